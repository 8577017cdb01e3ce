"""What the ledgers read: rows streamed in batches from the read model, never the whole result at once."""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

from sqlalchemy import ColumnElement, Integer, case, func
from sqlalchemy import select as sql_select
from sqlmodel import Session, col, select

from contracts.clock import day_start
from contracts.enums import Action, InterimControlKind, Stage
from contracts.hazard import Actor
from readmodel.models import Hazard, HazardEventRow
from readmodel.queries import HazardFilter, hazard_conditions, overdue_condition

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
    ordered_at: datetime


def suspension_rows(*, session: Session, actor: Actor, where: HazardFilter, now: datetime) -> Iterator[Suspension]:
    """One row per 责令停产整顿 order: an interim control of kind suspension, as its event recorded it."""
    query = (
        select(Hazard, HazardEventRow)
        .join(HazardEventRow, col(HazardEventRow.hazard_id) == col(Hazard.hazard_id))
        .where(
            *hazard_conditions(actor, where, now),
            col(HazardEventRow.action) == Action.CONFIRM_INTERIM_CONTROL.value,
            col(HazardEventRow.payload)["kind"].as_string() == InterimControlKind.SUSPENSION.value,
        )
        .order_by(col(HazardEventRow.at), col(HazardEventRow.hazard_id), col(HazardEventRow.seq))
        .execution_options(yield_per=BATCH)
    )
    for hazard, event in session.exec(query):
        yield Suspension(
            hazard=hazard, order_no=str(event.payload.get("suspension_order_no") or ""), ordered_at=event.at
        )


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
    """Cumulative counts up to the end of `as_of`, one line per street or department.

    Found and closed are counted as of that day; overdue and listed are the current state, which the read
    model keeps no history of. Revoked hazards were never major hazards and are left out.
    """
    cutoff = day_start(as_of + timedelta(days=1))
    key = col(Hazard.street) if by == "street" else col(Hazard.department)

    def total(condition: ColumnElement[bool]) -> ColumnElement[int]:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0).cast(Integer)

    closed = (col(Hazard.stage) == Stage.CLOSED.value) & (col(Hazard.closed_at) < cutoff)
    # Five columns: more than sqlmodel's typed select() takes, so SQLAlchemy's own.
    query = (
        sql_select(
            key,
            func.count(),
            total(closed),
            total(overdue_condition(now)),
            total(col(Hazard.listed).is_(True)),
        )
        .where(
            *hazard_conditions(actor, where, now),
            col(Hazard.stage) != Stage.REVOKED.value,
            col(Hazard.found_at) < cutoff,
        )
        .group_by(key)
        .order_by(key)
    )
    return [
        DispatchLine(name=name, found=found, closed=done, overdue=late, listed=listed)
        for name, found, done, late, listed in session.execute(query)
    ]
