"""Read-model queries. Each takes the session by keyword, so a caller can see what it runs inside."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, or_, union, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import Select as RowsSelect
from sqlmodel.sql.expression import SelectOfScalar

from contracts.clock import day_start
from contracts.deadlines import Rag
from contracts.enums import Industry, Role, Source, Stage
from contracts.hazard import Actor
from readmodel.models import (
    Hazard,
    HazardEventPublic,
    HazardEventRow,
    HazardEventsPublic,
    HazardPublic,
    HazardSerial,
    HazardsPublic,
    ReportRequest,
)
from readmodel.planner_hints import column, rows_estimate, unindexed
from readmodel.search import NOT_LOOKED_UP, Lookup, count_held, holds, look_up


@dataclass(frozen=True)
class HazardFilter:
    """The list's filters, shared by the list, the ledger exports and anything else that selects hazards."""

    stage: Stage | None = None
    street: str | None = None
    industry: Industry | None = None
    department: str | None = None
    source: Source | None = None
    text: str | None = None
    rag: Rag | None = None
    overdue: bool | None = None
    listed: bool | None = None
    found_from: date | None = None
    found_to: date | None = None


def scope_branches(actor: Actor, *, walked: bool = False) -> list[ColumnElement[bool]] | None:
    """contracts.jurisdiction.sees as SQL, one condition per way in: the hazards this actor may see are those
    meeting any of them (None: all hazards). `walked`: see `hazard_conditions`."""
    c = partial(column, indexed=not walked)
    match actor.role:
        case Role.COMMITTEE_OFFICE | Role.AUDITOR:
            return None
        case Role.ENTERPRISE:
            return [c(Hazard.enterprise_credit_code) == actor.credit_code if actor.credit_code else false()]
        case Role.STREET:
            return [c(Hazard.street) == actor.street if actor.street else false()]
        case Role.DEPARTMENT:
            return [
                c(Hazard.department) == actor.organisation,
                c(Hazard.reporter_organisation) == actor.organisation,
                and_(c(Hazard.industry).in_([i.value for i in actor.industries]), c(Hazard.transferred) == false()),
            ]


def scope_condition(actor: Actor) -> ColumnElement[bool] | None:
    """The hazards this actor may see, as one condition (None: all of them)."""
    branches = scope_branches(actor)
    return None if branches is None else or_(*branches)


def visible(*, session: Session, actor: Actor, hazard_id: str) -> bool:
    scope = scope_condition(actor)
    query = select(Hazard.hazard_id).where(col(Hazard.hazard_id) == hazard_id)
    if scope is not None:
        query = query.where(scope)
    return session.exec(query).first() is not None


def overdue_condition(now: datetime, *, walked: bool = False) -> ColumnElement[bool]:
    """Still open and its next deadline has passed (the ladder turns it red on its next tick). The `is not null`
    stays indexable even when `walked` (see `hazard_conditions`): it is what lets SQLite use migration 0011's
    index of hazards with a deadline."""
    deadline = column(Hazard.next_deadline, indexed=not walked)
    return and_(
        col(Hazard.stage).not_in([Stage.CLOSED.value, Stage.REVOKED.value]),
        col(Hazard.next_deadline).is_not(None),
        deadline < now,
    )


def hazard_conditions(
    actor: Actor,
    where: HazardFilter,
    now: datetime,
    *,
    walked: bool = False,
    text_found: Lookup = NOT_LOOKED_UP,
    ways_in: bool = False,
) -> list[ColumnElement[bool]]:
    """The caller's jurisdiction and the filters, as SQL conditions on the hazard table. `text_found`: what
    the search's index tells (readmodel.search.look_up). `ways_in`: for a jurisdiction, one
    condition per way into it, of which a hazard meets any (`selected_by_ways_in`), instead of all conditions.

    The filters are repeated inside each way into the jurisdiction, (A or B) and F written as (A and F) or
    (B and F): SQLite then answers each branch from an index holding both (a department's hazards in a stage:
    `department, stage`), where otherwise it reads every hazard of the stage and tests the jurisdiction on each.

    `walked`: every column compared where no index answers for it (`unindexed`), so SQLite can only walk an index
    in the page's order, newest first, and test each hazard: every hazard's, or for overdue ones the index of
    hazards with a deadline (`list_hazards` says when)."""
    c = partial(column, indexed=not walked)
    branches = scope_branches(actor, walked=walked)
    found: list[ColumnElement[bool]] = []
    for field, value in (
        (Hazard.stage, where.stage),
        (Hazard.street, where.street),
        (Hazard.department, where.department),
    ):
        if value is not None:
            found.append(c(field) == value)
    if where.industry is not None:
        # Fourteen values: within a jurisdiction its ways in hold it, and the industry's own index would win ties.
        found.append(column(Hazard.industry, indexed=not walked and branches is None) == where.industry)
    # A few values each, so never the way in: without statistics SQLite takes `listed = 1` for as rare as a
    # department's hazards, and reads a third of the table. Every way in carries them (migration 0015).
    few_valued: list[tuple[Any, Any]] = [
        (Hazard.source, where.source),
        (Hazard.rag, where.rag),
        (Hazard.listed, where.listed),
    ]
    found += [unindexed(col(field)) == value for field, value in few_valued if value is not None]
    if where.overdue is not None:
        overdue = overdue_condition(now, walked=walked)
        found.append(overdue if where.overdue else ~overdue)
    if where.found_from is not None:
        found.append(c(Hazard.found_at) >= day_start(where.found_from))
    if where.found_to is not None:
        found.append(c(Hazard.found_at) < day_start(where.found_to + timedelta(days=1)))
    if where.text:
        found.append(holds(where.text, text_found))
    if branches is None:
        return found
    if ways_in:
        return [and_(branch, *found) for branch in branches]
    scoped = or_(*(and_(branch, *found) for branch in branches))
    # Walked, the overdue condition's `is not null` stands outside the ways in as well: SQLite looks for it there
    # before it uses the index of hazards with a deadline, which is smaller than every hazard's.
    return [scoped, col(Hazard.next_deadline).is_not(None)] if walked and where.overdue else [scoped]


# The API's order: the newest report first.
NEWEST_FIRST: tuple[ColumnElement[Any], ...] = (col(Hazard.reported_at).desc(), col(Hazard.hazard_id).desc())
# The same order, written so that no index gives it: the planner then finds the matches by their filter and sorts.
NEWEST_FIRST_SORTED: tuple[ColumnElement[Any], ...] = (
    unindexed(col(Hazard.reported_at)).desc(),
    unindexed(col(Hazard.hazard_id)).desc(),
)

# A page newest first has two ways in, and SQLite cannot tell which is faster (it keeps no statistics: the product
# never runs ANALYZE). It can take the matches by an index of their filter or jurisdiction and sort them all, at a
# cost of about the matches; or walk an index in the page's order, newest first, testing each hazard until the page
# is full, which passes about (offset + limit) x hazards / matches entries. The page is walked when the second is
# the smaller: matches squared at least the page's end times the hazards. At national scale (200,000 hazards)
# sorting took 22-68 ms for pages of 13,000-110,000 matches (a department's hazards, an industry's, the committee's
# in one stage) where the walk took 0.1-1.4 ms; 1,572 matches sorted in 7 ms and walked in 14. An overdue page walks
# migration 0011's index of hazards with a deadline (81,799 overdue of 90,147 open: sorting them took 25 ms of the
# page's 40). A window that ends (found_to) is never walked: its hazards are the oldest, which a walk newest first
# reaches last. Under MANY_MATCHES no walk is asked for, and the hazards are not looked up.
MANY_MATCHES = 1_000


def walks(where: HazardFilter, count: int, end: int, hazards: Callable[[], int]) -> bool:
    """Whether the page ending at `end` of `count` matches newest first, of `hazards()` in all, is walked (above)."""
    if count < MANY_MATCHES or where.found_to is not None:
        return False
    return count * count >= end * hazards()


def selected_by_ways_in(
    session: Session, actor: Actor, where: HazardFilter, now: datetime, text_found: Lookup
) -> list[RowsSelect[str, datetime]] | None:
    """On PostgreSQL, for an actor with a jurisdiction, the hazards matching, as one select per way into it, to be
    joined by UNION: each way is then read from its own index alone (an index-only scan), where an OR of the ways reads
    each matching hazard's row from the table (a BitmapOr). A department's overdue hazards under 挂牌督办 at national
    scale, 8,754 of them: counted in 5.5 ms against 14.7, their page 11 sorted in 6.0 against 10.5 (raw SQL). None for
    a jurisdiction of one way in; for a search not looked up in its index, whose text only the row holds, so each way
    reads its rows anyway and the UNION sorted them all where the OR's page stops at 50 (a department's search for
    仓库: page 1 in 57 ms against 6, before `newest_page_of_ways`); and on SQLite, which answers the OR from its
    indexes, one way after the other."""
    branches = scope_branches(actor)
    read_for_text = where.text is not None and text_found.ids is None
    if session.get_bind().dialect.name != "postgresql" or branches is None or len(branches) < 2 or read_for_text:
        return None
    ways = hazard_conditions(actor, where, now, text_found=text_found, ways_in=True)
    return [select(Hazard.hazard_id, Hazard.reported_at).where(way) for way in ways]


def newest_page_of_ways(ways: list[RowsSelect[str, datetime]], offset: int, limit: int) -> SelectOfScalar[str]:
    """The ids of a page newest first of the hazards the ways select, taken from each way's newest `offset + limit`:
    a hazard on the page is among those in its own way, so the UNION of all the ways' hazards is neither sorted whole
    nor rid of its repeats. A department's 23,334 hazards at national scale: page 1 in 2.5 ms against 20.5 (raw SQL)."""
    end = offset + limit
    newest = union(*(way.order_by(*NEWEST_FIRST).limit(end) for way in ways)).subquery()
    newest_first = (newest.c.reported_at.desc(), newest.c.hazard_id.desc())
    return select(newest.c.hazard_id).order_by(*newest_first).offset(offset).limit(limit)


def _held_by_all_searched(session: Session, actor: Actor, where: HazardFilter) -> int | None:
    """For a search alone over every hazard, how many hold the text, counted from its index where that answers
    exactly (readmodel.search.count_held): the committee's search for a word 39,287 of 200,000 hazards hold read
    them all (a page took 111-114 ms on SQLite, 72-80 on PostgreSQL). None otherwise."""
    if where.text is None or where != HazardFilter(text=where.text) or scope_branches(actor) is not None:
        return None
    return count_held(session, where.text)


def list_hazards(
    *,
    session: Session,
    actor: Actor,
    where: HazardFilter,
    now: datetime,
    offset: int,
    limit: int,
    order: Sequence[ColumnElement[Any]] = NEWEST_FIRST,
) -> HazardsPublic:
    held = _held_by_all_searched(session, actor, where)
    text_found = look_up(session, where.text, held=held) if where.text else NOT_LOOKED_UP
    conditions = hazard_conditions(actor, where, now, text_found=text_found)
    ways = selected_by_ways_in(session, actor, where, now, text_found)
    if held is not None:
        count = held
    elif ways is not None:
        count = session.exec(select(func.count()).select_from(union(*ways).subquery())).one()
    else:
        count = session.exec(select(func.count()).select_from(Hazard).where(*conditions)).one()
    if offset >= count:
        # Nothing to page through: a filter nothing matches would be tested on every hazard for an empty page.
        return HazardsPublic(data=[], count=count)
    # The page's ids first, then their rows: the ids can be sorted from an index alone, where sorting whole rows
    # reads every match (all 80,000 overdue hazards for a page of 50 at national scale).
    page_order = order
    # A text looked up is held by few hazards (fewer than readmodel.search.FEW_HOLDING): they are sorted.
    walked = (
        order is NEWEST_FIRST
        and text_found.ids is None
        and walks(where, count, offset + limit, partial(rows_estimate, session, Hazard))
    )
    if walked:
        conditions = hazard_conditions(actor, where, now, walked=True, text_found=text_found)
    elif order is NEWEST_FIRST and (where.overdue or where.found_to is not None or where.text):
        # Few overdue: taken by the deadline index and sorted, where SQLite would walk every hazard with a deadline.
        # A window that ends: taken by the finding date's index and sorted (migration 0015's holds the order), where
        # SQLite would walk from the newest to its old hazards (330-360 ms at national scale).
        # A search: looked up in its index, or else from one read of the table, where SQLite walked the newest-first
        # index and looked up every hazard's row (an enterprise's 4 hazards at national scale: 513 ms, sorted 221).
        page_order = NEWEST_FIRST_SORTED
    if ways is not None and order is NEWEST_FIRST:
        page = newest_page_of_ways(ways, offset, limit)
    else:
        page = select(Hazard.hazard_id).where(*conditions).order_by(*page_order).offset(offset).limit(limit)
    rows = session.exec(select(Hazard).where(col(Hazard.hazard_id).in_(page)).order_by(*order)).all()
    return HazardsPublic(data=[HazardPublic.model_validate(row) for row in rows], count=count)


def hazard_events(*, session: Session, hazard_id: str) -> HazardEventsPublic:
    rows = session.exec(
        select(HazardEventRow).where(HazardEventRow.hazard_id == hazard_id).order_by(col(HazardEventRow.seq))
    ).all()
    return HazardEventsPublic(data=[HazardEventPublic.model_validate(row) for row in rows], count=len(rows))


def hazard_exists(*, session: Session, hazard_id: str) -> bool:
    return session.get(Hazard, hazard_id) is not None


def next_serial(*, session: Session, prefix: str, count: int = 1) -> int:
    """Hands out 1, 2, 3... per prefix without gaps in committed ids; call inside the caller's transaction. Takes
    `count` serials in a row and returns the last of them."""
    bumped = session.execute(
        update(HazardSerial)
        .where(col(HazardSerial.prefix) == prefix)
        .values(last=col(HazardSerial.last) + count)
        .returning(col(HazardSerial.last))
    ).scalar_one_or_none()
    if bumped is not None:
        return int(bumped)
    session.add(HazardSerial(prefix=prefix, last=count))
    session.flush()
    return count


@dataclass(frozen=True)
class Allocation:
    hazard_id: str
    existing: bool


def allocate_hazard_id(*, session: Session, district: str, now: datetime, request_id: str | None) -> Allocation:
    """A new id like 120104-2026-00042, or the one this request id already made."""
    if request_id is not None:
        known = session.get(ReportRequest, request_id)
        if known is not None:
            return Allocation(known.hazard_id, existing=True)
    prefix = f"{district}-{now.year}"
    try:
        hazard_id = f"{prefix}-{next_serial(session=session, prefix=prefix):05d}"
        if request_id is not None:
            session.add(ReportRequest(request_id=request_id, hazard_id=hazard_id, created_at=now))
        session.commit()
    except IntegrityError:
        # A concurrent request with the same id (or the first serial of a year) won the race: use its result.
        session.rollback()
        return allocate_hazard_id(session=session, district=district, now=now, request_id=request_id)
    return Allocation(hazard_id, existing=False)


def allocate_hazard_ids(
    *, session: Session, district: str, now: datetime, request_ids: Sequence[str]
) -> dict[str, str]:
    """The hazard id of each request id, as allocate_hazard_id gives it one at a time: the one it already made, or
    a new one. New ids take serials in a row, in the order given, all in one transaction (a ledger import numbers
    its rows this way: one write per batch, not one per row)."""
    made: dict[str, str] = dict(
        session.exec(
            select(ReportRequest.request_id, ReportRequest.hazard_id).where(
                col(ReportRequest.request_id).in_(request_ids)
            )
        ).all()
    )
    new = [request_id for request_id in dict.fromkeys(request_ids) if request_id not in made]
    if not new:
        return made
    prefix = f"{district}-{now.year}"
    try:
        last = next_serial(session=session, prefix=prefix, count=len(new))
        for serial, request_id in enumerate(new, start=last - len(new) + 1):
            made[request_id] = f"{prefix}-{serial:05d}"
            session.add(ReportRequest(request_id=request_id, hazard_id=made[request_id], created_at=now))
        session.commit()
    except IntegrityError:
        # As allocate_hazard_id: a concurrent allocation for one of these ids, or a year's first serial, won.
        session.rollback()
        return allocate_hazard_ids(session=session, district=district, now=now, request_ids=request_ids)
    return made
