"""The hazard list's filters as SQL, on top of the actor's jurisdiction, shared by every ledger export."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import ColumnElement, and_, or_
from sqlmodel import col

from contracts.clock import CHINA_TZ
from contracts.deadlines import Rag
from contracts.enums import Industry, Source, Stage
from contracts.hazard import Actor
from readmodel.models import Hazard
from readmodel.queries import scope_condition

TERMINAL = [Stage.CLOSED.value, Stage.REVOKED.value]


@dataclass(frozen=True)
class LedgerFilter:
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


def day_start(day: date) -> datetime:
    """Midnight in China: found dates are days on the wall calendar of the people who found the hazard."""
    return datetime.combine(day, time(), CHINA_TZ)


def overdue_condition(now: datetime) -> ColumnElement[bool]:
    """Still open and its next deadline has passed (the ladder turns it red on its next tick)."""
    return and_(
        col(Hazard.stage).not_in(TERMINAL),
        col(Hazard.next_deadline).is_not(None),
        col(Hazard.next_deadline) < now,
    )


def conditions(actor: Actor, where: LedgerFilter, now: datetime) -> list[ColumnElement[bool]]:
    scope = scope_condition(actor)
    found: list[ColumnElement[bool]] = [] if scope is None else [scope]
    for column, value in (
        (Hazard.stage, where.stage),
        (Hazard.street, where.street),
        (Hazard.industry, where.industry),
        (Hazard.department, where.department),
        (Hazard.source, where.source),
        (Hazard.rag, where.rag),
        (Hazard.listed, where.listed),
    ):
        if value is not None:
            found.append(col(column) == value)
    if where.overdue is not None:
        found.append(overdue_condition(now) if where.overdue else ~overdue_condition(now))
    if where.found_from is not None:
        found.append(col(Hazard.found_at) >= day_start(where.found_from))
    if where.found_to is not None:
        found.append(col(Hazard.found_at) < day_start(where.found_to + timedelta(days=1)))
    if where.text:
        pattern = f"%{where.text}%"
        found.append(
            or_(
                col(Hazard.title).like(pattern),
                col(Hazard.enterprise_name).like(pattern),
                col(Hazard.hazard_id).like(pattern),
                col(Hazard.location).like(pattern),
            )
        )
    return found
