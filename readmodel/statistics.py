"""Statistics over the read model: found, closed, open, stock and increment... per street, industry or department.

Counting rules, so every figure can be checked by hand:
- A hazard belongs to the window when `found_at` is in [found_from, found_to) and it was reported by `as_of`.
- Its stage as of `as_of` is the `stage_after` of its last event at or before `as_of` (the hazard_event table),
  so a past `as_of` sees hazards that were still open then even though they are closed now.
- A revoked hazard counts as found, but neither as open nor as closed: it was never rectified, and it no longer
  needs to be. The rectification rate (整改率, closed / found) therefore counts it in the denominator only.
- listed, five_in_place and funds_yuan are read as of `as_of` from the list/delist and submit_plan events;
  five_in_place and funds_yuan take the plan's current figures (a plan resubmitted later shows its last figures).
- overdue is open as of `as_of` with `next_deadline` before `as_of`. The read model keeps only the current next
  deadline, so for a past `as_of` it is an approximation (deadlines moved or met since are not reconstructed).
  The 调度表 (ledgers.queries.dispatch_lines), whose snapshots must regenerate with the same numbers, counts
  `HazardAsOf.overdue` instead: the deadline of the stage the hazard was in, as its events recorded it.
- stock (存量) is found before 1 January of the cut-off year and still open as of `as_of`; increment (增量) is
  every hazard found on or after that day.
- A hazard imported from an existing ledger counts from its import on (its report event), with what the ledger
  recorded: its 销号日期 as the day it closed, its plan (五到位, funds, 整改时限) as planned, its listing.
- Groups use the hazard's current street, industry and department (after any transfer).
- Escalation effectiveness: for each notice letter, summons, listing and circular fired by `as_of`, the hours
  from the rung to the next event that changed the hazard's stage (the stage being done), by `as_of`.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from statistics import median
from typing import Any

from sqlalchemy import ColumnElement, literal

# SQLAlchemy's own select: sqlmodel's is typed for at most four columns.
from sqlalchemy import select as columns
from sqlmodel import Session, SQLModel, col, select

from contracts.clock import day_start
from contracts.deadlines import STAGE_DEADLINES, DeadlineKind, Rung
from contracts.enums import Action, Source, Stage
from readmodel.models import EscalationRow, Hazard, HazardEventRow
from workcalendar import end_of_day

# The rungs that are acts of supervision; reminders and the overdue mark only notify or colour.
EFFECTIVENESS_RUNGS = (Rung.NOTICE_LETTER, Rung.SUMMONS, Rung.LISTING, Rung.CIRCULAR)
# What the fold reads from event payloads, by JSON path: the report's department (and for a hazard imported from
# a ledger, the listing, the plan's figures, the 整改时限 and the 销号日期 the ledger recorded), a transfer's
# department, the plan's 整改时限, an extension's new date and its decision, and the deadline an escalation rung
# fired on. Read as text (booleans as booleans) by the database: decoding whole payloads in Python would cost more
# than the rest of the fold.
TEXT_FACTS: dict[str, tuple[str, ...]] = {
    "department": ("department",),
    "ledger_listing": ("imported", "listing", "doc_number"),
    "ledger_plan_deadline": ("imported", "plan", "deadline"),
    "ledger_rectify_deadline": ("imported", "rectify_deadline"),
    "ledger_funds": ("imported", "funds_yuan"),
    "ledger_closed_on": ("imported", "closed_on"),
    "to_department": ("to_department",),
    "deadline": ("deadline",),
    "new_due_date": ("new_due_date",),
    "due": ("due",),
    "deadline_kind": ("deadline_kind",),
}
BOOLEAN_FACTS: dict[str, tuple[str, ...]] = {
    "approve": ("approve",),
    "ledger_five_in_place": ("imported", "five_in_place"),
}
# A dictionary is far quicker than the enum's own lookup, which the fold would make once per event.
STAGES = {stage.value: stage for stage in Stage}
SECONDS_PER_DAY = 86400
SECONDS_PER_HOUR = 3600


class GroupBy(StrEnum):
    STREET = "street"
    INDUSTRY = "industry"
    DEPARTMENT = "department"
    NONE = "none"


GROUP_COLUMNS = {
    GroupBy.STREET: Hazard.street,
    GroupBy.INDUSTRY: Hazard.industry,
    GroupBy.DEPARTMENT: Hazard.department,
}


class RungEffectiveness(SQLModel):
    fired: int
    stage_done: int
    median_hours_to_done: float | None


class StatisticsRow(SQLModel):
    key: str | None
    found: int
    by_source: dict[Source, int]
    closed: int
    open: int
    overdue: int
    listed: int
    five_in_place: int
    rectification_rate: float | None
    funds_yuan: Decimal
    stock: int
    increment: int
    median_days_to_close: float | None
    escalation_effectiveness: dict[Rung, RungEffectiveness]


class StatisticsPublic(SQLModel):
    as_of: datetime
    group_by: GroupBy
    found_from: date | None
    found_to: date | None
    cutoff_year: int
    rows: list[StatisticsRow]
    total: StatisticsRow


@dataclass(frozen=True)
class StatisticsQuery:
    group_by: GroupBy
    as_of: datetime
    cutoff_year: int
    found_from: date | None = None
    found_to: date | None = None


@dataclass
class HazardAsOf:
    """What one hazard looked like at `as_of`, folded from its events in order (`apply`).

    `stage_due` is the deadline of the stage the hazard was in, as far as its events recorded it by then, which
    is what `overdue` compares: a deadline set as a date (the plan's 整改时限, an approved extension's new date) is
    known from the event that set it; a deadline counted in working days by the workflow (查实, 方案, 临时管控,
    审核验收) becomes known when the first rung of its ladder fires, the reminder, which the default policy sends
    3 working days before the deadline and which records it. Entering a stage forgets the previous stage's.
    """

    key: str | None
    found_at: datetime
    source: Source
    next_deadline: datetime | None
    five_in_place: bool
    funds_yuan: Decimal | None
    # The department as of `as_of`: the one reported to, then each transfer's (starts as the current one).
    department: str
    stage: Stage | None = None
    closed_at: datetime | None = None
    listed: bool = False
    planned: bool = False
    stage_due: datetime | None = None
    # (at, stage after) of every event that changed the stage, in order.
    stage_changes: list[tuple[datetime, Stage]] = field(default_factory=list)
    rungs: list[tuple[Rung, datetime]] = field(default_factory=list)
    # Fixed due dates seen so far, as the workflow arms them on entering a stage (HazardWorkflow._stage_due_date).
    plan_due: date | None = None
    extended: dict[DeadlineKind, date] = field(default_factory=dict)
    requested: tuple[DeadlineKind, date] | None = None

    @property
    def is_open(self) -> bool:
        return self.stage is not None and not self.stage.is_terminal

    def overdue(self, as_of: datetime) -> bool:
        """Open, and the deadline of its stage had passed by `as_of`."""
        return self.is_open and self.stage_due is not None and self.stage_due < as_of

    def apply(self, action: str, at: datetime, before: str | None, after: str, facts: dict[str, Any]) -> None:
        stage = STAGES[after]
        kind = STAGE_DEADLINES.get(stage)
        closed_at = at
        match action:
            case Action.REPORT:
                self.department = facts["department"] or self.department
                # A hazard imported from a ledger brings what the ledger says happened before it was imported:
                # its listing, its plan (五到位, funds, 整改时限) and the day it was closed.
                self.listed = facts["ledger_listing"] is not None
                self.plan_due = _date(facts["ledger_plan_deadline"] or facts["ledger_rectify_deadline"])
                self.planned = (
                    facts["ledger_plan_deadline"] is not None
                    or facts["ledger_funds"] is not None
                    or bool(facts["ledger_five_in_place"])
                )
                if facts["ledger_closed_on"]:
                    closed_at = day_start(date.fromisoformat(facts["ledger_closed_on"]))
            case Action.TRANSFER:
                self.department = facts["to_department"] or self.department
            case Action.SUBMIT_PLAN:
                self.planned = True
                self.plan_due = _date(facts["deadline"])
            case Action.REQUEST_EXTENSION if kind is not None and facts["new_due_date"]:
                self.requested = (kind, date.fromisoformat(facts["new_due_date"]))
            case Action.DECIDE_EXTENSION if self.requested is not None:
                extended, new_date = self.requested
                self.requested = None
                if facts["approve"]:
                    self.extended[extended] = new_date
                    if extended is kind:
                        self.stage_due = end_of_day(new_date)
            case Action.ESCALATE if kind is not None and facts["deadline_kind"] == kind.value and facts["due"]:
                self.stage_due = datetime.fromisoformat(facts["due"])
            case Action.LIST | Action.DELIST:
                self.listed = action == Action.LIST
        self.stage = stage
        if before != after:
            self.stage_changes.append((at, stage))
            if stage is Stage.CLOSED:
                self.closed_at = closed_at
            self.stage_due = self._armed_due(kind)

    def _armed_due(self, kind: DeadlineKind | None) -> datetime | None:
        """The deadline a stage starts with when it has a fixed date: the latest approved extension, else for the
        rectification the plan's 整改时限. Working-day deadlines are learned from their rungs."""
        if kind in self.extended:
            return end_of_day(self.extended[kind])
        if kind is DeadlineKind.RECTIFY and self.plan_due is not None:
            return end_of_day(self.plan_due)
        return None


FACT_NAMES = (*TEXT_FACTS, *BOOLEAN_FACTS)


def _path(payload: Any, path: tuple[str, ...]) -> Any:
    return payload[path[0]] if len(path) == 1 else payload[path]


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def hazards_as_of(
    *, session: Session, conditions: list[ColumnElement[bool]], as_of: datetime, key: Any = None
) -> dict[str, HazardAsOf]:
    """The hazards meeting `conditions` that were reported by `as_of`, each folded from its events up to then.

    `key` is the column the caller groups by (None: no grouping)."""
    conditions = [*conditions, col(Hazard.reported_at) <= as_of]
    hazards: dict[str, HazardAsOf] = {
        hazard_id: HazardAsOf(
            key=group,
            found_at=found_at,
            source=Source(source),
            next_deadline=next_deadline,
            five_in_place=five,
            funds_yuan=funds,
            department=department,
        )
        for hazard_id, group, found_at, source, next_deadline, five, funds, department in session.execute(
            columns(
                col(Hazard.hazard_id),
                literal(None) if key is None else key,
                col(Hazard.found_at),
                col(Hazard.source),
                col(Hazard.next_deadline),
                col(Hazard.five_in_place),
                col(Hazard.funds_yuan),
                col(Hazard.department),
            ).where(*conditions)
        ).all()
    }
    payload = col(HazardEventRow.payload)
    events = session.execute(
        columns(
            col(HazardEventRow.hazard_id),
            col(HazardEventRow.action),
            col(HazardEventRow.at),
            col(HazardEventRow.stage_before),
            col(HazardEventRow.stage_after),
            *(_path(payload, path).as_string() for path in TEXT_FACTS.values()),
            *(_path(payload, path).as_boolean() for path in BOOLEAN_FACTS.values()),
        )
        .where(
            col(HazardEventRow.hazard_id).in_(select(Hazard.hazard_id).where(*conditions)),
            col(HazardEventRow.at) <= as_of,
        )
        .order_by(col(HazardEventRow.hazard_id), col(HazardEventRow.seq))
    ).all()
    # Each statement reads its own snapshot (SQLite outside a write, PostgreSQL read committed): a hazard reported
    # between the two reads has events here and no entry above, and is left out like any reported after.
    for hazard_id, action, at, before, after, *facts in events:
        if (hazard := hazards.get(hazard_id)) is not None:
            hazard.apply(action, at, before, after, dict(zip(FACT_NAMES, facts, strict=True)))
    return hazards


def hazard_statistics(
    *, session: Session, scope: ColumnElement[bool] | None, query: StatisticsQuery
) -> StatisticsPublic:
    """Statistics for the hazards `scope` lets the caller see (None: all), grouped as asked."""
    conditions: list[ColumnElement[bool]] = [col(Hazard.reported_at) <= query.as_of]
    if scope is not None:
        conditions.append(scope)
    if query.found_from is not None:
        conditions.append(col(Hazard.found_at) >= day_start(query.found_from))
    if query.found_to is not None:
        conditions.append(col(Hazard.found_at) < day_start(query.found_to))
    key = None if query.group_by is GroupBy.NONE else col(GROUP_COLUMNS[query.group_by])
    hazards = hazards_as_of(session=session, conditions=conditions, as_of=query.as_of, key=key)
    in_scope = select(Hazard.hazard_id).where(*conditions)

    rungs = session.exec(
        select(EscalationRow.hazard_id, EscalationRow.rung, EscalationRow.at).where(
            col(EscalationRow.hazard_id).in_(in_scope),
            col(EscalationRow.rung).in_([r.value for r in EFFECTIVENESS_RUNGS]),
            col(EscalationRow.at) <= query.as_of,
        )
    ).all()
    for hazard_id, rung, at in rungs:
        if (hazard := hazards.get(hazard_id)) is not None:  # reported since the first read (hazards_as_of)
            hazard.rungs.append((Rung(rung), at))

    groups: dict[str | None, list[HazardAsOf]] = defaultdict(list)
    for hazard in hazards.values():
        groups[hazard.key].append(hazard)
    cutoff = day_start(date(query.cutoff_year, 1, 1))
    rows = [_row(key, groups[key], query.as_of, cutoff) for key in sorted(groups, key=lambda k: k or "")]
    return StatisticsPublic(
        as_of=query.as_of,
        group_by=query.group_by,
        found_from=query.found_from,
        found_to=query.found_to,
        cutoff_year=query.cutoff_year,
        rows=rows,
        total=_row(None, list(hazards.values()), query.as_of, cutoff),
    )


def _median(values: Iterable[float]) -> float | None:
    listed = list(values)
    return round(median(listed), 2) if listed else None


def _row(key: str | None, hazards: list[HazardAsOf], as_of: datetime, cutoff: datetime) -> StatisticsRow:
    found = len(hazards)
    closed = [h for h in hazards if h.closed_at is not None and h.stage is Stage.CLOSED]
    open_ = [h for h in hazards if h.is_open]
    planned = [h for h in hazards if h.planned]
    return StatisticsRow(
        key=key,
        found=found,
        by_source={source: sum(1 for h in hazards if h.source is source) for source in Source},
        closed=len(closed),
        open=len(open_),
        overdue=sum(1 for h in open_ if h.next_deadline is not None and h.next_deadline < as_of),
        listed=sum(1 for h in hazards if h.listed),
        five_in_place=sum(1 for h in planned if h.five_in_place),
        rectification_rate=round(len(closed) / found, 4) if found else None,
        funds_yuan=sum((h.funds_yuan for h in planned if h.funds_yuan is not None), Decimal("0")),
        stock=sum(1 for h in open_ if h.found_at < cutoff),
        increment=sum(1 for h in hazards if h.found_at >= cutoff),
        median_days_to_close=_median(
            (h.closed_at - h.found_at).total_seconds() / SECONDS_PER_DAY for h in closed if h.closed_at
        ),
        escalation_effectiveness=_effectiveness(hazards),
    )


def _effectiveness(hazards: list[HazardAsOf]) -> dict[Rung, RungEffectiveness]:
    fired: dict[Rung, int] = defaultdict(int)
    hours: dict[Rung, list[float]] = defaultdict(list)
    for hazard in hazards:
        for rung, at in hazard.rungs:
            fired[rung] += 1
            done = next((changed for changed, _ in hazard.stage_changes if changed > at), None)
            if done is not None:
                hours[rung].append((done - at).total_seconds() / SECONDS_PER_HOUR)
    return {
        rung: RungEffectiveness(
            fired=fired[rung], stage_done=len(hours[rung]), median_hours_to_done=_median(hours[rung])
        )
        for rung in EFFECTIVENESS_RUNGS
    }
