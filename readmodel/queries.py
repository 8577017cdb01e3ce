"""Read-model queries. Each takes the session by keyword, so a caller can see what it runs inside."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from contracts.enums import Industry, Source, Stage
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


@dataclass(frozen=True)
class HazardFilter:
    stage: Stage | None = None
    street: str | None = None
    industry: Industry | None = None
    department: str | None = None
    source: Source | None = None
    text: str | None = None


def list_hazards(*, session: Session, where: HazardFilter, offset: int, limit: int) -> HazardsPublic:
    conditions = []
    for column, value in (
        (Hazard.stage, where.stage),
        (Hazard.street, where.street),
        (Hazard.industry, where.industry),
        (Hazard.department, where.department),
        (Hazard.source, where.source),
    ):
        if value is not None:
            conditions.append(col(column) == value)
    if where.text:
        pattern = f"%{where.text}%"
        conditions.append(
            or_(
                col(Hazard.title).like(pattern),
                col(Hazard.enterprise_name).like(pattern),
                col(Hazard.hazard_id).like(pattern),
                col(Hazard.location).like(pattern),
            )
        )
    count = session.exec(select(func.count()).select_from(Hazard).where(*conditions)).one()
    rows = session.exec(
        select(Hazard)
        .where(*conditions)
        .order_by(col(Hazard.reported_at).desc(), col(Hazard.hazard_id).desc())
        .offset(offset)
        .limit(limit)
    ).all()
    return HazardsPublic(data=[HazardPublic.model_validate(row) for row in rows], count=count)


def hazard_events(*, session: Session, hazard_id: str) -> HazardEventsPublic:
    rows = session.exec(
        select(HazardEventRow).where(HazardEventRow.hazard_id == hazard_id).order_by(col(HazardEventRow.seq))
    ).all()
    return HazardEventsPublic(data=[HazardEventPublic.model_validate(row) for row in rows], count=len(rows))


def hazard_exists(*, session: Session, hazard_id: str) -> bool:
    return session.get(Hazard, hazard_id) is not None


def next_serial(*, session: Session, prefix: str) -> int:
    """Hands out 1, 2, 3... per prefix without gaps in committed ids; call inside the caller's transaction."""
    bumped = session.execute(
        update(HazardSerial)
        .where(col(HazardSerial.prefix) == prefix)
        .values(last=col(HazardSerial.last) + 1)
        .returning(col(HazardSerial.last))
    ).scalar_one_or_none()
    if bumped is not None:
        return int(bumped)
    session.add(HazardSerial(prefix=prefix, last=1))
    session.flush()
    return 1


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
