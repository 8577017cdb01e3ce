"""What the ledgers read: rows streamed in batches from the read model, never the whole result at once."""

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from sqlalchemy import and_, or_
from sqlmodel import Session, col, select

from contracts.enums import Action, InterimControlKind, Stage
from contracts.hazard import Actor
from readmodel.models import Hazard, HazardEventRow
from readmodel.queries import HazardFilter, hazard_conditions
from readmodel.statistics import HazardAsOf, hazards_as_of
from workcalendar import end_of_day

# Rows fetched per round trip: large enough to be quick, small enough that memory stays flat.
BATCH = 500

DispatchBy = Literal["street", "department"]


def rectification_rows(*, session: Session, actor: Actor, where: HazardFilter, now: datetime) -> Iterator[Hazard]:
    query = (
        select(Hazard)
        .where(*hazard_conditions(actor, where, now))
        .order_by(col(Hazard.found_at), col(Hazard.hazard_id))
        .execution_options(yield_per=BATCH)
    )
    yield from session.exec(query)


@dataclass(frozen=True)
class Suspension:
    hazard: Hazard
    order_no: str
    # None for an order carried over from an imported ledger: the 督改台账 records the order, not its day.
    ordered_at: datetime | None


def suspension_rows(*, session: Session, actor: Actor, where: HazardFilter, now: datetime) -> Iterator[Suspension]:
    """One row per 责令停产整顿 order: an interim control of kind suspension, as its event recorded it, or as the
    ledger a hazard was imported from recorded it (its report event carries the ledger's interim control)."""
    payload = col(HazardEventRow.payload)
    suspension = InterimControlKind.SUSPENSION.value
    query = (
        select(Hazard, HazardEventRow)
        .join(HazardEventRow, col(HazardEventRow.hazard_id) == col(Hazard.hazard_id))
        .where(
            *hazard_conditions(actor, where, now),
            or_(
                and_(
                    col(HazardEventRow.action) == Action.CONFIRM_INTERIM_CONTROL.value,
                    payload["kind"].as_string() == suspension,
                ),
                and_(
                    col(HazardEventRow.action) == Action.REPORT.value,
                    payload[("imported", "interim_control", "kind")].as_string() == suspension,
                ),
            ),
        )
        .order_by(col(HazardEventRow.at), col(HazardEventRow.hazard_id), col(HazardEventRow.seq))
        .execution_options(yield_per=BATCH)
    )
    for hazard, event in session.exec(query):
        if event.action == Action.REPORT.value:
            control, ordered_at = event.payload["imported"]["interim_control"], None
        else:
            control, ordered_at = event.payload, event.at
        yield Suspension(hazard=hazard, order_no=str(control.get("suspension_order_no") or ""), ordered_at=ordered_at)


@dataclass(frozen=True)
class DispatchLine:
    name: str
    found: int
    closed: int
    overdue: int
    listed: int

    @property
    def in_progress(self) -> int:
        return self.found - self.closed


def dispatch_lines(
    *, session: Session, actor: Actor, where: HazardFilter, by: DispatchBy, as_of: date, now: datetime
) -> list[DispatchLine]:
    """Cumulative counts as they stood at the end of `as_of` (China), or at `now` while that day lasts, one line
    per street or department.

    Every figure is folded from what was recorded by then (readmodel.statistics.hazards_as_of), so a table
    regenerated later for the same day has the same numbers whatever happened since: found is every hazard
    reported by then; closed, listed and the department (after any transfer) are as its events left them;
    overdue is open with the deadline of its stage passed (HazardAsOf.overdue). A hazard revoked by then was
    never a major hazard and is left out; one revoked later was still in progress then. The jurisdiction and the
    list's filters (`where`, on the hazards' current data, at `now`) choose which hazards are counted.
    """
    until = min(end_of_day(as_of), now)
    key = col(Hazard.street) if by == "street" else None
    hazards = hazards_as_of(session=session, conditions=hazard_conditions(actor, where, now), as_of=until, key=key)
    counted: dict[str, list[HazardAsOf]] = defaultdict(list)
    for hazard in hazards.values():
        if hazard.stage is not None and hazard.stage is not Stage.REVOKED:
            counted[hazard.key if hazard.key is not None else hazard.department].append(hazard)
    return [
        DispatchLine(
            name=name,
            found=len(group),
            closed=sum(1 for h in group if h.stage is Stage.CLOSED),
            overdue=sum(1 for h in group if h.overdue(until)),
            listed=sum(1 for h in group if h.listed),
        )
        for name, group in sorted(counted.items())
    ]
