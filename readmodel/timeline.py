"""Each hazard's timeline: when it was first planned, when it ended (closed or revoked), each 挂牌督办 from its
listing to its delisting, how long it took from being found to being closed, when it was first escalated (by a
rung statistics count), when each rung's stage was done, and from when on its rungs read as they do now.
Statistics as of any date read these (readmodel.statistics) instead of folding every event of every hazard.

Derived from the hazard's event rows by the rules the fold (HazardAsOf.apply) applies to the same events, in the
transaction that writes the events (readmodel.projection), so a restamped, repaired or redelivered event leaves
the timeline as its rows say. Every event of a hazard is stamped no earlier than the one before it (the workflow's
clock), so "by a date" reads the same from the first such event as from the fold.
"""

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    BindParameter,
    ColumnElement,
    Connection,
    Executable,
    Integer,
    ScalarSelect,
    String,
    and_,
    bindparam,
    case,
    cast,
    delete,
    extract,
    func,
    inspect,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.orm import aliased
from sqlmodel import col

from contracts.deadlines import Rung
from contracts.enums import Action, Stage
from contracts.hazard import HazardEvent
from readmodel.event_facts import fact
from readmodel.models import EscalationRow, Hazard, HazardEventRow, ListingPeriodRow

TERMINAL = [stage.value for stage in Stage if stage.is_terminal]
# The rungs that are acts of supervision, whose effectiveness statistics count; reminders and the overdue mark only
# notify or colour.
EFFECTIVENESS_RUNGS = (Rung.NOTICE_LETTER, Rung.SUMMONS, Rung.LISTING, Rung.CIRCULAR)
# The actions after which a hazard's timeline may read differently (an escalation: its rung is recorded by then);
# so does any change of stage (its rungs' stage is done) and a report bringing a ledger's plan, listing or closing
# (the `imported` facts). Any other event leaves it as it was.
TIMELINE_ACTIONS = frozenset({Action.SUBMIT_PLAN, Action.LIST, Action.DELIST, Action.ESCALATE})


def _event_alias(name: str) -> type[HazardEventRow]:
    alias = aliased(HazardEventRow, name=name)
    # SQLAlchemy fills an alias's index of its columns on first use, without a lock (_init_proxy_index). Threads
    # first building statements over one alias at once could find it half-filled and leave a column unaliased: a
    # join of every event, which listed a hazard twice in a rebuild's concurrent heals. Filled here, by the import.
    inspect(alias).selectable.c.corresponding_column(HazardEventRow.__table__.c.seq)  # type: ignore[attr-defined]
    return alias


event = _event_alias("e")
delisting = _event_alias("d")


def changes_timeline(change: HazardEvent) -> bool:
    if change.action is Action.REPORT:
        return "imported" in change.payload
    return change.action in TIMELINE_ACTIONS or change.stage_before is not change.stage_after


def _planned() -> ColumnElement[bool]:
    # As the fold: a submitted plan, or a report bringing a plan from a ledger (its 整改时限, funds or 五到位).
    imported_plan = or_(
        fact("ledger_plan_deadline", col(event.payload)).is_not(None),
        fact("ledger_funds", col(event.payload)).is_not(None),
        fact("ledger_five_in_place", col(event.payload)).is_(true()),
    )
    return or_(col(event.action) == Action.SUBMIT_PLAN, and_(col(event.action) == Action.REPORT, imported_plan))


def _ended() -> ColumnElement[bool]:
    return and_(
        col(event.stage_after).in_(TERMINAL),
        or_(col(event.stage_before).is_(None), col(event.stage_before).not_in(TERMINAL)),
    )


def _listed() -> ColumnElement[bool]:
    return or_(
        col(event.action) == Action.LIST,
        and_(col(event.action) == Action.REPORT, fact("ledger_listing", col(event.payload)).is_not(None)),
    )


def _first(condition: ColumnElement[bool]) -> ScalarSelect[datetime]:
    return (
        select(func.min(col(event.at)))
        .where(col(event.hazard_id) == col(Hazard.hazard_id), condition)
        .scalar_subquery()
    )


def rung_items(rung: Any, to_done_us: Any, done: ColumnElement[bool]) -> Any:
    """The aggregate statistics read a hazard's rungs from: each as 'rung:microseconds to its stage done' if `done`,
    else 'rung', comma-separated, so the many alike are counted at once."""
    to_done = case((done, to_done_us))
    return func.aggregate_strings(rung + func.coalesce(":" + cast(to_done, String), ""), ",")


def counted_rungs() -> list[ColumnElement[bool]]:
    """The rows of the hazard being counted that are rungs statistics count."""
    return [
        col(EscalationRow.hazard_id) == col(Hazard.hazard_id),
        col(EscalationRow.rung).in_([r.value for r in EFFECTIVENESS_RUNGS]),
    ]


def micros_between(dialect: str, later: Any, earlier: Any) -> ColumnElement[int]:
    """Whole microseconds from `earlier` to `later`, computed by the database: exact, so a median is the one the
    Python fold finds (timedelta.total_seconds() divides the same integer)."""
    if dialect == "sqlite":
        # Stored as 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC): epoch seconds, then the six digits of the fraction.
        def seconds(at: Any) -> ColumnElement[int]:
            return cast(func.strftime("%s", at), Integer)

        def fraction(at: Any) -> ColumnElement[int]:
            return cast(func.substr(at, 21, 6), Integer)

        return (seconds(later) - seconds(earlier)) * 1_000_000 + fraction(later) - fraction(earlier)
    return cast(extract("epoch", later - earlier) * 1_000_000, BigInteger)


@dataclass(frozen=True)
class TimelineStatements:
    """refresh_timelines' statements for one dialect, built once: built per call, their JSON paths made SQLAlchemy
    compile them again every time, several times the cost of running them."""

    update_rungs: Executable
    update_rows: Executable
    delete_periods: Executable
    insert_periods: Executable


@functools.cache
def timeline_statements(dialect: str, every: bool) -> TimelineStatements:
    """For `dialect`, over every hazard or (`every` False) those in the expanding parameter `hazard_ids`."""
    ids: BindParameter[list[str]] = bindparam("hazard_ids", expanding=True)
    hazard_filter = [] if every else [col(Hazard.hazard_id).in_(ids)]
    period_filter = [] if every else [col(ListingPeriodRow.hazard_id).in_(ids)]
    event_filter = [] if every else [col(event.hazard_id).in_(ids)]
    rung_filter = [] if every else [col(EscalationRow.hazard_id).in_(ids)]
    delisted_at = (
        select(func.min(col(delisting.at)))
        .where(
            col(delisting.hazard_id) == col(event.hazard_id),
            col(delisting.seq) > col(event.seq),
            col(delisting.action) == Action.DELIST,
        )
        .scalar_subquery()
    )
    # As the fold: the first event after the rung, by its time, that changed the stage.
    stage_done_at = (
        select(func.min(col(event.at)))
        .where(
            col(event.hazard_id) == col(EscalationRow.hazard_id),
            col(event.at) > col(EscalationRow.at),
            or_(col(event.stage_before).is_(None), col(event.stage_before) != col(event.stage_after)),
        )
        .scalar_subquery()
    )
    escalated_since = select(func.min(col(EscalationRow.at))).where(*counted_rungs()).scalar_subquery()
    # A rung's stage is done after it fired, if at all: its last change is the later of the two.
    rungs_settled_at = (
        select(func.max(func.coalesce(col(EscalationRow.stage_done_at), col(EscalationRow.at))))
        .where(*counted_rungs())
        .scalar_subquery()
    )
    # In the order they fired, so the same rungs are kept as the same text (the databases aggregate a sorted
    # subquery in its order).
    fired = (
        select(col(EscalationRow.rung), col(EscalationRow.to_done_us), col(EscalationRow.stage_done_at))
        .where(*counted_rungs())
        .order_by(col(EscalationRow.at), col(EscalationRow.rung), col(EscalationRow.deadline_id))
        .correlate(Hazard)
        .subquery()
    )
    settled_rungs = select(
        rung_items(fired.c.rung, fired.c.to_done_us, fired.c.stage_done_at.is_not(None))
    ).scalar_subquery()
    return TimelineStatements(
        update_rungs=update(EscalationRow)
        .where(*rung_filter)
        .values(
            stage_done_at=stage_done_at,
            to_done_us=micros_between(dialect, stage_done_at, col(EscalationRow.at)),
        ),
        update_rows=update(Hazard)
        .where(*hazard_filter)
        .values(
            planned_at=_first(_planned()),
            ended_at=_first(_ended()),
            listed_since=_first(_listed()),
            escalated_since=escalated_since,
            rungs_settled_at=rungs_settled_at,
            settled_rungs=settled_rungs,
            # Set with the closing (a terminal event, which refreshes the timeline) or the report of a hazard imported
            # closed; found_at never changes.
            found_to_closed_us=case(
                (
                    and_(col(Hazard.stage) == Stage.CLOSED, col(Hazard.closed_at).is_not(None)),
                    micros_between(dialect, col(Hazard.closed_at), col(Hazard.found_at)),
                )
            ),
        ),
        delete_periods=delete(ListingPeriodRow).where(*period_filter),
        insert_periods=ListingPeriodRow.__table__.insert().from_select(  # type: ignore[attr-defined]
            ["hazard_id", "seq", "listed_at", "delisted_at"],
            select(col(event.hazard_id), col(event.seq), col(event.at), delisted_at).where(_listed(), *event_filter),
        ),
    )


def refresh_timelines(conn: Connection, hazard_ids: Sequence[str] | None) -> None:
    """Rewrite the timelines of `hazard_ids` (None: every hazard) from their event and escalation rows."""
    statements = timeline_statements(conn.dialect.name, hazard_ids is None)
    parameters = {} if hazard_ids is None else {"hazard_ids": list(hazard_ids)}
    for statement in (
        statements.update_rungs,
        statements.update_rows,
        statements.delete_periods,
        statements.insert_periods,
    ):
        conn.execute(statement, parameters)
