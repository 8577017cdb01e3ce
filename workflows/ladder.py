"""The escalation ladder as pure functions over a hazard's open deadlines. No I/O, no clock: `now` is passed."""

from datetime import datetime

from contracts.deadlines import RUNG_LEVELS, Deadline, DeadlineKind, Rag, Rung, ScheduledRung
from contracts.hazard import HazardRecord

# A publication is the committee office's own chore: tracked and reminded, but not the hazard's colour.
COLOURLESS = frozenset({DeadlineKind.LISTING_PUBLICATION, DeadlineKind.DELISTING_PUBLICATION})


def rung_key(deadline: Deadline, rung: ScheduledRung) -> str:
    return f"{deadline.id}/{rung.rung.value}"


def due_rungs(record: HazardRecord, now: datetime) -> list[tuple[Deadline, ScheduledRung]]:
    """Rungs whose time has come and that have not fired, in time order."""
    due = [
        (deadline, rung)
        for deadline in record.state.deadlines
        for rung in deadline.rungs
        if rung.fired_at is None and rung.at <= now
    ]
    return sorted(due, key=lambda pair: pair[1].at)


def next_rung_at(record: HazardRecord) -> datetime | None:
    pending = [r.at for d in record.state.deadlines for r in d.rungs if r.fired_at is None]
    return min(pending, default=None)


def arm(record: HazardRecord, deadline: Deadline) -> None:
    """Add or replace a deadline; rungs this hazard already fired on the same deadline id stay fired."""
    fired = set(record.fired)
    for rung in deadline.rungs:
        if rung_key(deadline, rung) in fired and rung.fired_at is None:
            rung.fired_at = rung.at
    state = record.state
    state.deadlines = sorted([d for d in state.deadlines if d.kind != deadline.kind] + [deadline], key=_by_due)
    refresh(record)


def disarm(record: HazardRecord, *kinds: DeadlineKind) -> None:
    record.state.deadlines = [d for d in record.state.deadlines if d.kind not in kinds]
    for kind in kinds:
        for key in [k for k, v in record.schedule_inputs.items() if v.kind == kind]:
            del record.schedule_inputs[key]
    refresh(record)


def mark_fired(record: HazardRecord, deadline: Deadline, rung: ScheduledRung, at: datetime) -> None:
    rung.fired_at = at
    key = rung_key(deadline, rung)
    if key not in record.fired:
        record.fired.append(key)
    refresh(record)


def refresh(record: HazardRecord) -> None:
    """Derive colour, level and next deadline from the open deadlines' fired rungs."""
    state = record.state
    coloured = [d for d in state.deadlines if d.kind not in COLOURLESS]
    fired = [r.rung for d in coloured for r in d.rungs if r.fired_at is not None]
    if Rung.OVERDUE in fired:
        state.rag = Rag.RED
    elif Rung.REMINDER in fired:
        state.rag = Rag.YELLOW
    else:
        state.rag = Rag.GREEN
    state.escalation_level = max((RUNG_LEVELS[r] for r in fired), default=0)
    state.next_deadline = min((d.due for d in state.deadlines), default=None)


def deadline(record: HazardRecord, kind: DeadlineKind) -> Deadline | None:
    return next((d for d in record.state.deadlines if d.kind == kind), None)


def _by_due(deadline: Deadline) -> datetime:
    return deadline.due
