from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Column, Numeric, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from contracts.enums import Industry, Source, Stage
from readmodel.types import AwareDateTime


def aware(*, index: bool = False, nullable: bool = False) -> Any:
    return Field(sa_column=Column(AwareDateTime(), index=index, nullable=nullable))


# Enums are stored as their plain values so a new stage or industry needs no schema change.
def code(*, index: bool = False, default: Any = ...) -> Any:
    return Field(default=default, sa_type=String(32), index=index)


class HazardBase(SQLModel):
    hazard_id: str = Field(primary_key=True, max_length=64)
    title: str = Field(max_length=200)
    enterprise_name: str = Field(max_length=200, index=True)
    enterprise_credit_code: str = Field(max_length=18, index=True)
    street: str = Field(max_length=200, index=True)
    industry: Industry = code(index=True)
    department: str = Field(max_length=200, index=True)
    source: Source = code(index=True)
    criterion_standard: str = Field(max_length=200)
    criterion_clause: str = Field(max_length=200)
    location: str = Field(max_length=200)
    found_at: datetime = aware(index=True)
    reported_at: datetime = aware()
    reporter_id: str = Field(max_length=200)
    reporter_name: str = Field(max_length=200)
    stage: Stage = code(index=True)
    five_in_place: bool = False
    funds_yuan: Decimal | None = Field(default=None, sa_column=Column(Numeric(14, 2), nullable=True))
    rectify_deadline: date | None = None
    rejection_count: int = 0
    next_deadline: datetime | None = aware(index=True, nullable=True)
    closed_at: datetime | None = aware(nullable=True)
    version: int
    updated_at: datetime = aware()


class Hazard(HazardBase, table=True):
    """One row per hazard: its current state as of event `version`."""

    description: str


class HazardPublic(HazardBase):
    pass


class HazardsPublic(SQLModel):
    data: list[HazardPublic]
    count: int


class HazardEventBase(SQLModel):
    hazard_id: str = Field(max_length=64, index=True)
    seq: int
    action: str = Field(max_length=64)
    actor_id: str = Field(max_length=200)
    actor_name: str = Field(max_length=200)
    actor_role: str = Field(max_length=32)
    actor_organisation: str = Field(max_length=200)
    at: datetime = aware()
    stage_before: Stage | None = code(default=None)
    stage_after: Stage = code()
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class HazardEventRow(HazardEventBase, table=True):
    """Append-only: one row per accepted action, unique on (hazard, sequence)."""

    __tablename__ = "hazard_event"
    __table_args__ = (UniqueConstraint("hazard_id", "seq", name="uq_hazard_event_seq"),)
    id: int | None = Field(default=None, primary_key=True)


class HazardEventPublic(HazardEventBase):
    pass


class HazardEventsPublic(SQLModel):
    data: list[HazardEventPublic]
    count: int


class ReportRequest(SQLModel, table=True):
    """A client's report request id and the hazard it made, so a retried report makes no second hazard."""

    __tablename__ = "report_request"
    request_id: str = Field(primary_key=True, max_length=128)
    hazard_id: str = Field(max_length=64, unique=True)
    created_at: datetime = aware()


class HazardSerial(SQLModel, table=True):
    """The last serial handed out per district and year: ids like 120104-2026-00042."""

    __tablename__ = "hazard_serial"
    prefix: str = Field(primary_key=True, max_length=32)
    last: int = 0
