"""The audit trail's table: one hash-chained row per audited request, never updated or deleted."""

from datetime import datetime

from sqlalchemy import BigInteger, Column
from sqlmodel import Field, SQLModel

from readmodel.models import aware


class AuditRecordBase(SQLModel):
    seq: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    # When the outcome was recorded, just after the handler answered (in seq order, never decreasing).
    at: datetime = aware(index=True)
    # Who: from the bearer token; all empty when the request carried none or an invalid one.
    actor_id: str | None = Field(default=None, max_length=200, index=True)
    actor_name: str | None = Field(default=None, max_length=200)
    actor_role: str | None = Field(default=None, max_length=32)
    actor_organisation: str | None = Field(default=None, max_length=200, index=True)
    method: str = Field(max_length=16)
    # The route template ("/hazards/{hazard_id}/review"), or the raw path when no route matched.
    route: str = Field(max_length=300)
    # The endpoint's name ("review", "hazard_events"), or "unmatched".
    action: str = Field(max_length=64, index=True)
    # The hazard (or escalation, year...) acted on or read, when the request names one.
    object_id: str | None = Field(default=None, max_length=200, index=True)
    status: int
    outcome: str = Field(max_length=16)
    source_ip: str | None = Field(default=None, max_length=64)
    request_id: str = Field(max_length=128, index=True)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class AuditRecord(AuditRecordBase, table=True):
    """Append-only, enforced by triggers (migration 0003); `hash` chains each row to the one before."""

    __tablename__ = "audit_record"


class AuditRecordPublic(AuditRecordBase):
    pass


class AuditRecordsPublic(SQLModel):
    data: list[AuditRecordPublic]
    count: int
