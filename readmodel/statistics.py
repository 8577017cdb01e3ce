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

These rules are written once as a fold over each hazard's events (HazardAsOf), which the 调度表 runs; statistics
count the same from the timelines the projection keeps (readmodel.timeline), without reading an event.
"""

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel
from sqlalchemy import ColumnElement, String, and_, case, cast, false, func, literal, or_, true

# SQLAlchemy's own select: sqlmodel's is typed for at most four columns.
from sqlalchemy import select as columns
from sqlmodel import Session, col, select

from contracts.clock import day_start
from contracts.deadlines import STAGE_DEADLINES, DeadlineKind, Rung
from contracts.enums import Action, Source, Stage
from readmodel.event_facts import FACT_NAMES, fact_columns
from readmodel.models import EscalationRow, Hazard, HazardEventRow, ListingPeriodRow
from readmodel.timeline import EFFECTIVENESS_RUNGS, counted_rungs, rung_items
from workcalendar import end_of_day

# A dictionary is far quicker than the enum's own lookup, which the fold would make once per event.
STAGES = {stage.value: stage for stage in Stage}
RUNGS = {rung.value: rung for rung in Rung}
CENTS = Decimal("0.01")
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
# Groupings with an index of their own, led by their column and the source (migration 0013).
LED_GROUPS = frozenset({GroupBy.STREET, GroupBy.INDUSTRY})


# The answer's models are plain pydantic, not SQLModel: no table backs them, and one builds in about a third of the
# time (a national answer by street holds 2,001 rows, each with four of these).
class RungEffectiveness(BaseModel):
    fired: int
    stage_done: int
    median_hours_to_done: float | None


class StatisticsRow(BaseModel):
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


class StatisticsPublic(BaseModel):
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
    """What one hazard looked like at `as_of`, folded from its events in order (`apply`): what the 调度表 counts,
    and the statement of the statistics' rules that hazard_statistics, reading timelines instead, is tested against.

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
    events = session.execute(
        columns(
            col(HazardEventRow.hazard_id),
            col(HazardEventRow.action),
            col(HazardEventRow.at),
            col(HazardEventRow.stage_before),
            col(HazardEventRow.stage_after),
            *fact_columns(),
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


def window_conditions(scope: ColumnElement[bool] | None, query: StatisticsQuery) -> list[ColumnElement[bool]]:
    """The hazards `scope` lets the caller see (None: all) that were reported by `as_of` and found in the window."""
    conditions: list[ColumnElement[bool]] = [col(Hazard.reported_at) <= query.as_of]
    if scope is not None:
        conditions.append(scope)
    if query.found_from is not None:
        conditions.append(col(Hazard.found_at) >= day_start(query.found_from))
    if query.found_to is not None:
        conditions.append(col(Hazard.found_at) < day_start(query.found_to))
    return conditions


@dataclass
class Tally:
    """One group's counts, summed by the database, and the figures its medians are taken from."""

    counts: dict[str, Any]
    # Microseconds from found to closed: the median is taken on these and only it is turned into days.
    days_to_close_us: list[int] = field(default_factory=list)
    fired: dict[Rung, int] = field(default_factory=lambda: defaultdict(int))
    # Microseconds from each rung to its stage being done.
    to_done_us: dict[Rung, list[int]] = field(default_factory=lambda: defaultdict(list))

    def add(self, other: "Tally") -> None:
        for name, value in other.counts.items():
            self.counts[name] += value
        self.days_to_close_us.extend(other.days_to_close_us)
        for rung, fired in other.fired.items():
            self.fired[rung] += fired
        for rung, micros in other.to_done_us.items():
            self.to_done_us[rung].extend(micros)


def hazard_statistics(
    *, session: Session, scope: ColumnElement[bool] | None, query: StatisticsQuery
) -> StatisticsPublic:
    """Statistics for the hazards `scope` lets the caller see (None: all), grouped as asked.

    Each hazard's state as of `as_of` is read from its timeline (readmodel.timeline: planned_at, ended_at,
    listed_since and listing_period, found_to_closed_us, escalated_since, rungs_settled_at and settled_rungs) and
    counted by the database in one grouped statement over one index (ix_hazard_statistics, or for every hazard by
    street or industry the index led by that column, migration 0013); the rungs of a hazard escalated but not
    settled by then come from another (ix_escalation_effectiveness). The rules are the fold's (HazardAsOf):
    tests/test_statistics_fold.py checks every figure against it."""
    conditions = window_conditions(scope, query)
    key = None if query.group_by is GroupBy.NONE else col(GROUP_COLUMNS[query.group_by])
    # Every hazard reported by then, grouped by a led index's column: that index, walked, brings them grouped. A
    # jurisdiction's or a window's few are taken by their own indexes and sorted.
    walked = query.group_by in LED_GROUPS and scope is None and query.found_from is None and query.found_to is None
    tallies = _counted(session, conditions, key, query, walked=walked)
    total = Tally(counts=defaultdict(int, funds_yuan=Decimal("0")))
    for tally in tallies.values():
        total.add(tally)
    return answer(query, {k: _row(k, tally) for k, tally in tallies.items()}, _row(None, total))


def answer(query: StatisticsQuery, rows: dict[str | None, StatisticsRow], total: StatisticsRow) -> StatisticsPublic:
    """The statistics answering `query`: its rows in key order, and the total."""
    return StatisticsPublic(
        as_of=query.as_of,
        group_by=query.group_by,
        found_from=query.found_from,
        found_to=query.found_to,
        cutoff_year=query.cutoff_year,
        rows=[rows[k] for k in sorted(rows, key=lambda k: k or "")],
        total=total,
    )


def _counted(
    session: Session, conditions: list[ColumnElement[bool]], key: Any, query: StatisticsQuery, *, walked: bool
) -> dict[str | None, Tally]:
    as_of = query.as_of
    cutoff = day_start(date(query.cutoff_year, 1, 1))
    is_open = or_(col(Hazard.ended_at).is_(None), col(Hazard.ended_at) > as_of)
    closed = and_(col(Hazard.ended_at) <= as_of, col(Hazard.found_to_closed_us).is_not(None))
    planned = col(Hazard.planned_at) <= as_of
    listing = (
        select(ListingPeriodRow.hazard_id)
        .where(
            col(ListingPeriodRow.hazard_id) == col(Hazard.hazard_id),
            col(ListingPeriodRow.listed_at) <= as_of,
            or_(col(ListingPeriodRow.delisted_at).is_(None), col(ListingPeriodRow.delisted_at) > as_of),
        )
        .exists()
    )

    # Counted with FILTER (both databases have it): SQLite took 61 ms for these six counts over 150,000 rows, and
    # 127 ms as sums of CASE.
    def count(condition: ColumnElement[bool]) -> ColumnElement[int]:
        return func.count().filter(condition)

    counted: dict[str, ColumnElement[Any]] = {
        "found": func.count(),
        "closed": count(closed),
        "open": count(is_open),
        "overdue": count(and_(is_open, col(Hazard.next_deadline) < as_of)),
        # Only a hazard listed by then has listing periods to look through. A CASE, not an AND: for a hazard never
        # listed the comparison is NULL, and NULL AND x must evaluate x, so PostgreSQL ran the look-up for every hazard
        # counted (national statistics by industry: about 105 ms of 224).
        "listed": count(case((col(Hazard.listed_since) <= as_of, listing), else_=false())),
        "five_in_place": count(and_(planned, col(Hazard.five_in_place) == true())),
        "funds_yuan": func.sum(col(Hazard.funds_yuan)).filter(planned),
        "stock": count(and_(is_open, col(Hazard.found_at) < cutoff)),
        "increment": count(col(Hazard.found_at) >= cutoff),
    }
    days = func.aggregate_strings(cast(col(Hazard.found_to_closed_us), String), ",").filter(closed)
    rungs = _rungs_by_then(as_of)
    # SQLite groups by sorting (it has no hash aggregate) every row with every column the figures read: over half of
    # the statement when it counts every hazard. Grouped, the source is grouped too (counted as its group's rows),
    # and the key is the bare column only when a led index is walked, which brings the rows in order. Otherwise it
    # is an expression, which keeps SQLite on ix_hazard_statistics: for the column's order it would take a narrower
    # index and read every row from the table. Ungrouped, each source is counted, and nothing is sorted.
    if key is None:
        groups: list[Any] = []
        counted |= {f"source:{source.value}": count(col(Hazard.source) == source.value) for source in Source}
    else:
        groups = [key if walked else key.concat(""), col(Hazard.source)]
    statement = columns(*groups, days, rungs, *counted.values()).select_from(Hazard).where(*conditions)
    tallies: dict[str | None, Tally] = {}
    for row in session.execute(statement.group_by(*groups)):
        group_key, source = (row[0], row[1]) if groups else (None, None)
        closing, fired, *values = row[len(groups) :]
        counts: dict[str, Any] = defaultdict(int, zip(counted, values, strict=True))
        if not counts["found"]:
            continue  # ungrouped, the one row comes back even when no hazard is counted
        if source is not None:
            counts[f"source:{source}"] = counts["found"]
        counts["funds_yuan"] = _yuan(counts["funds_yuan"])
        tally = Tally(counts=counts, days_to_close_us=list(map(int, closing.split(","))) if closing else [])
        for item, times in Counter(fired.split(",") if fired else []).items():
            name, _, micros = item.partition(":")
            rung = RUNGS[name]
            tally.fired[rung] += times
            if micros:
                tally.to_done_us[rung].extend([int(micros)] * times)
        if group_key in tallies:
            tallies[group_key].add(tally)
        else:
            tallies[group_key] = tally
    return tallies


def _rungs_by_then(as_of: datetime) -> ColumnElement[str]:
    """The aggregate listing each counted rung fired by `as_of` as 'rung:microseconds to its stage done', or 'rung'
    if not done by then (readmodel.timeline.rung_items). A hazard whose rungs were settled by then lists them as its
    row keeps them; only one escalated by then and not yet settled has its rungs looked up, from one index range."""
    done = col(EscalationRow.stage_done_at) <= as_of
    hazard_rungs = (
        select(rung_items(col(EscalationRow.rung), col(EscalationRow.to_done_us), done))
        .where(*counted_rungs(), col(EscalationRow.at) <= as_of)
        .scalar_subquery()
    )
    rungs = case(
        (col(Hazard.rungs_settled_at) <= as_of, col(Hazard.settled_rungs)),
        (col(Hazard.escalated_since) <= as_of, hazard_rungs),
    )
    return func.aggregate_strings(rungs, ",")


def _yuan(value: Any) -> Decimal:
    # SQLite sums NUMERIC as a float: back to the column's two decimals, as each value was read.
    return Decimal("0") if value is None else Decimal(str(value)).quantize(CENTS)


def _median_of_micros(micros: list[int], unit_seconds: int) -> float | None:
    """The median in `unit_seconds`, exactly as statistics.median finds it over each value turned into the unit."""
    if not micros:
        return None
    ordered = sorted(micros)
    middle = len(ordered) // 2

    def unit(value: int) -> float:
        return value / 10**6 / unit_seconds

    found = unit(ordered[middle]) if len(ordered) % 2 else (unit(ordered[middle - 1]) + unit(ordered[middle])) / 2
    return round(found, 2)


def _row(key: str | None, tally: Tally) -> StatisticsRow:
    counts = tally.counts
    found = counts["found"]
    return StatisticsRow(
        key=key,
        found=found,
        by_source={source: counts[f"source:{source.value}"] for source in Source},
        closed=counts["closed"],
        open=counts["open"],
        overdue=counts["overdue"],
        listed=counts["listed"],
        five_in_place=counts["five_in_place"],
        rectification_rate=round(counts["closed"] / found, 4) if found else None,
        funds_yuan=counts["funds_yuan"],
        stock=counts["stock"],
        increment=counts["increment"],
        median_days_to_close=_median_of_micros(tally.days_to_close_us, SECONDS_PER_DAY),
        escalation_effectiveness={
            rung: RungEffectiveness(
                fired=tally.fired[rung],
                stage_done=len(tally.to_done_us[rung]),
                median_hours_to_done=_median_of_micros(tally.to_done_us[rung], SECONDS_PER_HOUR),
            )
            for rung in EFFECTIVENESS_RUNGS
        },
    )
