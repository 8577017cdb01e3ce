from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Numeric, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from contracts.deadlines import DeadlineKind, Owner, Rag, Rung
from contracts.enums import Industry, Source, Stage
from contracts.reports import ReportKind, ReportTrigger
from readmodel.types import AwareDateTime


def aware(*, index: bool = False, nullable: bool = False) -> Any:
    return Field(sa_column=Column(AwareDateTime(), index=index, nullable=nullable))


# Enums are stored as their plain values so a new stage or industry needs no schema change.
def code(*, index: bool = False, default: Any = ...) -> Any:
    return Field(default=default, sa_type=String(32), index=index)


# The hazard table's indexes, chosen from query plans at national scale, are in the migrations (0006-0017).
class HazardBase(SQLModel):
    hazard_id: str = Field(primary_key=True, max_length=64)
    title: str = Field(max_length=200)
    enterprise_name: str = Field(max_length=200)
    enterprise_credit_code: str = Field(max_length=18, index=True)
    street: str = Field(max_length=200)
    industry: Industry = code(index=True)
    department: str = Field(max_length=200)
    source: Source = code()
    criterion_standard: str = Field(max_length=200)
    criterion_clause: str = Field(max_length=200)
    location: str = Field(max_length=200)
    found_at: datetime = aware()
    reported_at: datetime = aware()
    reporter_id: str = Field(max_length=200)
    reporter_name: str = Field(max_length=200)
    # With `department` and `transferred`, what a department's jurisdiction is judged on (contracts.jurisdiction).
    reporter_organisation: str = Field(default="", max_length=200)
    transferred: bool = False
    # Indexed with the next deadline (migration 0012), so a stage's overdue hazards are counted from the index alone.
    stage: Stage = code()
    five_in_place: bool = False
    funds_yuan: Decimal | None = Field(default=None, sa_column=Column(Numeric(14, 2), nullable=True))
    rectify_deadline: date | None = None
    rejection_count: int = 0
    next_deadline: datetime | None = aware(nullable=True)
    closed_at: datetime | None = aware(nullable=True)
    rag: Rag = code(default=Rag.GREEN, index=True)
    escalation_level: int = Field(default=0)
    listed: bool = Field(default=False, index=True)
    penalty_exempt: bool = False
    policy_version: int = 0
    # The next deadline was counted on the Monday-Friday fallback: provisional until the year is published.
    deadline_provisional: bool = False
    version: int
    updated_at: datetime = aware()


class Hazard(HazardBase, table=True):
    """One row per hazard: its current state as of event `version`."""

    description: str
    # When it was first planned, ended (closed or revoked), listed and escalated (a counted rung), and microseconds
    # from found to closed, from its events, rows and escalations (readmodel.timeline): what statistics as of a
    # date read in place of folding events.
    planned_at: datetime | None = aware(nullable=True)
    ended_at: datetime | None = aware(nullable=True)
    listed_since: datetime | None = aware(nullable=True)
    escalated_since: datetime | None = aware(nullable=True)
    found_to_closed_us: int | None = Field(default=None, sa_type=BigInteger)
    # From `rungs_settled_at` on (the last time a counted rung of it fired or saw its stage done), its rungs read as
    # of any date as `settled_rungs` lists them (readmodel.timeline.rung_items): statistics need not look them up.
    rungs_settled_at: datetime | None = aware(nullable=True)
    settled_rungs: str | None = None


class ListingPeriodRow(SQLModel, table=True):
    """One 挂牌督办 of a hazard, from its listing (or the listing its ledger recorded) to its delisting, if any."""

    __tablename__ = "listing_period"
    hazard_id: str = Field(primary_key=True, max_length=64)
    # The event that listed it.
    seq: int = Field(primary_key=True)
    listed_at: datetime = aware()
    delisted_at: datetime | None = aware(nullable=True)


class HazardPublic(HazardBase):
    pass


class HazardsPublic(SQLModel):
    data: list[HazardPublic]
    count: int


class HazardEventBase(SQLModel):
    hazard_id: str = Field(max_length=64)
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


class CalendarOverrideRow(SQLModel, table=True):
    """One year of the official calendar as the committee office entered it (the State Council notice)."""

    __tablename__ = "calendar_override"
    year: int = Field(primary_key=True)
    holidays: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    workdays: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    label: str | None = Field(default=None, max_length=200)
    updated_at: datetime = aware()
    updated_by: str = Field(max_length=200)


class PolicyVersionRow(SQLModel, table=True):
    """Every version of the escalation policy; the newest is in force for new hazards. Never updated."""

    __tablename__ = "policy_version"
    version: int = Field(primary_key=True)
    rules: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    industry_overrides: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    note: str | None = Field(default=None, max_length=1000)
    created_at: datetime = aware()
    created_by: str = Field(max_length=200)


class EscalationRow(SQLModel, table=True):
    """One rung fired on one deadline of one hazard: exactly once, whatever retries happen."""

    __tablename__ = "escalation"
    __table_args__ = (UniqueConstraint("hazard_id", "deadline_id", "rung", name="uq_escalation_rung"),)
    id: int | None = Field(default=None, primary_key=True)
    hazard_id: str = Field(max_length=64, index=True)
    deadline_id: str = Field(max_length=200)
    deadline_kind: DeadlineKind = code()
    rung: Rung = code()
    level: int
    target_kind: Owner = code()
    target_organisation: str = Field(max_length=200)
    copied_to: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    issued_by: str = Field(max_length=200)
    doc_number: str | None = Field(default=None, max_length=100, unique=True)
    at: datetime = aware(index=True)
    due: datetime = aware()
    working_days_late: int
    reason: str
    # What the letter is rendered from, so a download years later shows what was sent.
    letter: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # When the hazard's stage next changed after the rung (the stage being done), from its events
    # (readmodel.timeline): what escalation effectiveness as of a date reads.
    stage_done_at: datetime | None = aware(nullable=True)
    # Microseconds from the rung to stage_done_at.
    to_done_us: int | None = Field(default=None, sa_type=BigInteger)


class DocNumberCounter(SQLModel, table=True):
    """The last 文号 serial per issuing body, series and year: numbers without gaps or repeats."""

    __tablename__ = "doc_number_counter"
    issuer: str = Field(primary_key=True, max_length=100)
    series: str = Field(primary_key=True, max_length=32)
    year: int = Field(primary_key=True)
    last: int = 0


class OutboxRow(SQLModel, table=True):
    """Notifications waiting for the webhook; written in the same transaction as what they announce."""

    __tablename__ = "outbox"
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=300, unique=True)
    topic: str = Field(max_length=64)
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = aware()
    attempts: int = 0
    next_attempt_at: datetime = aware(index=True)
    delivered_at: datetime | None = aware(nullable=True, index=True)
    last_error: str | None = Field(default=None, max_length=1000)


class ImportJobRow(SQLModel, table=True):
    """One ledger import (imports/): progress and every bad row, kept here so that any API replica answers for
    it, and a restart loses nothing but the run itself (a stalled job reads as failed; importing again is safe)."""

    __tablename__ = "import_job"
    id: str = Field(primary_key=True, max_length=32)
    filename: str = Field(max_length=255)
    file_sha256: str = Field(max_length=64, index=True)
    only_valid: bool = False
    # validating, invalid, importing, done, failed
    status: str = Field(max_length=16)
    total_rows: int = 0
    valid_rows: int = 0
    imported: int = 0
    skipped: int = 0
    errors: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_by_id: str = Field(max_length=200)
    created_by_name: str = Field(max_length=200)
    created_by_role: str = Field(max_length=32)
    created_by_organisation: str = Field(max_length=200, index=True)
    created_at: datetime = aware(index=True)
    # Moved on by the running import at least every few seconds: a stale one has stopped.
    updated_at: datetime = aware()
    finished_at: datetime | None = aware(nullable=True)


class ReportSnapshotBase(SQLModel):
    kind: ReportKind = code(index=True)
    trigger: ReportTrigger = code()
    # 截至: the report's day, and the instant its figures count up to (the end of that day, or the moment a
    # regeneration ran while the day lasted).
    as_of: date = Field(index=True)
    cutoff: datetime = aware()
    generated_at: datetime = aware(index=True)
    requested_by: str = Field(max_length=200)
    workflow_id: str = Field(max_length=300)
    filename: str = Field(max_length=200)
    # The file is kept by its SHA-256 and checked against it on every download.
    sha256: str = Field(max_length=64)
    size: int
    # The totals printed in the file, so a list shows them without opening it.
    summary: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class ReportSnapshot(ReportSnapshotBase, table=True):
    """One periodic report as taken: never updated or deleted (triggers, migration 0004). A run is taken once
    per kind, trigger and cutoff: a retried or repeated run returns the snapshot already taken."""

    __tablename__ = "report_snapshot"
    __table_args__ = (UniqueConstraint("kind", "trigger", "cutoff", name="uq_report_snapshot_run"),)
    id: int | None = Field(default=None, primary_key=True)


class ReportSnapshotPublic(ReportSnapshotBase):
    id: int


class ReportSnapshotsPublic(SQLModel):
    data: list[ReportSnapshotPublic]
    count: int
