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
- stock (存量) is found before 1 January of the cut-off year and still open as of `as_of`; increment (增量) is
  every hazard found on or after that day.
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
from contracts.deadlines import Rung
from contracts.enums import Action, Source, Stage
from readmodel.models import EscalationRow, Hazard, HazardEventRow

# The rungs that are acts of supervision; reminders and the overdue mark only notify or colour.
EFFECTIVENESS_RUNGS = (Rung.NOTICE_LETTER, Rung.SUMMONS, Rung.LISTING, Rung.CIRCULAR)
LISTING_ACTIONS = (Action.LIST.value, Action.DELIST.value)
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
class _HazardAsOf:
    """What one hazard looked like at `as_of`, folded from its events."""

    key: str | None
    found_at: datetime
    source: Source
    next_deadline: datetime | None
    five_in_place: bool
    funds_yuan: Decimal | None
    stage: Stage | None = None
    closed_at: datetime | None = None
    listed: bool = False
    planned: bool = False
    # (at, stage after) of every event that changed the stage, in order.
    stage_changes: list[tuple[datetime, Stage]] = field(default_factory=list)
    rungs: list[tuple[Rung, datetime]] = field(default_factory=list)

    @property
    def is_open(self) -> bool:
        return self.stage is not None and not self.stage.is_terminal


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
    key_column: Any = literal(None) if query.group_by is GroupBy.NONE else col(GROUP_COLUMNS[query.group_by])

    hazards: dict[str, _HazardAsOf] = {
        hazard_id: _HazardAsOf(
            key=key,
            found_at=found_at,
            source=Source(source),
            next_deadline=next_deadline,
            five_in_place=five,
            funds_yuan=funds,
        )
        for hazard_id, key, found_at, source, next_deadline, five, funds in session.execute(
            columns(
                col(Hazard.hazard_id),
                key_column,
                col(Hazard.found_at),
                col(Hazard.source),
                col(Hazard.next_deadline),
                col(Hazard.five_in_place),
                col(Hazard.funds_yuan),
            ).where(*conditions)
        ).all()
    }
    in_scope = select(Hazard.hazard_id).where(*conditions)

    events = session.execute(
        columns(
            col(HazardEventRow.hazard_id),
            col(HazardEventRow.action),
            col(HazardEventRow.at),
            col(HazardEventRow.stage_before),
            col(HazardEventRow.stage_after),
        )
        .where(col(HazardEventRow.hazard_id).in_(in_scope), col(HazardEventRow.at) <= query.as_of)
        .order_by(col(HazardEventRow.hazard_id), col(HazardEventRow.seq))
    ).all()
    for hazard_id, action, at, before, after in events:
        hazard = hazards[hazard_id]
        hazard.stage = Stage(after)
        if before != after:
            hazard.stage_changes.append((at, Stage(after)))
            if after == Stage.CLOSED:
                hazard.closed_at = at
        if action in LISTING_ACTIONS:
            hazard.listed = action == Action.LIST.value
        elif action == Action.SUBMIT_PLAN.value:
            hazard.planned = True

    rungs = session.exec(
        select(EscalationRow.hazard_id, EscalationRow.rung, EscalationRow.at).where(
            col(EscalationRow.hazard_id).in_(in_scope),
            col(EscalationRow.rung).in_([r.value for r in EFFECTIVENESS_RUNGS]),
            col(EscalationRow.at) <= query.as_of,
        )
    ).all()
    for hazard_id, rung, at in rungs:
        hazards[hazard_id].rungs.append((Rung(rung), at))

    groups: dict[str | None, list[_HazardAsOf]] = defaultdict(list)
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


def _row(key: str | None, hazards: list[_HazardAsOf], as_of: datetime, cutoff: datetime) -> StatisticsRow:
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


def _effectiveness(hazards: list[_HazardAsOf]) -> dict[Rung, RungEffectiveness]:
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
