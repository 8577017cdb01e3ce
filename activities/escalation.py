"""Issues an escalation rung: its record, its 文号 and letter, and its notification, exactly once per rung."""

from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlmodel import Session, SQLModel, select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.heartbeat import heartbeating
from contracts.clock import CHINA_TZ
from contracts.deadlines import (
    DOCUMENT_RUNGS,
    ESCALATION_HEARTBEAT_TIMEOUT,
    ISSUE_ESCALATION_ACTIVITY,
    RUNG_LEVELS,
    EscalationRecord,
    EscalationTarget,
    IssueEscalationInput,
    Owner,
    Rung,
)
from contracts.errors import ErrorType
from letters.content import compose_letter, reason
from readmodel.escalation_queries import record_of
from readmodel.models import DocNumberCounter, EscalationRow, OutboxRow
from readmodel.projection import dialect_insert, escalation_row

# The 文号 series of each document: 南开安委办函〔2027〕3号 is the third 函 of 2027.
SERIES: dict[Rung, str] = {
    Rung.NOTICE_LETTER: "函",
    Rung.SUMMONS: "约",
    Rung.LISTING: "督",
    Rung.CIRCULAR: "通",
}

# Which rungs each owner's ladder has: enterprises end at 挂牌督办, departments at 通报, and the committee
# office's own publication deadlines are only reminded (it would be writing to itself).
LADDERS: dict[Owner, frozenset[Rung]] = {
    Owner.ENTERPRISE: frozenset({Rung.REMINDER, Rung.NOTICE_LETTER, Rung.SUMMONS, Rung.LISTING}),
    Owner.DEPARTMENT: frozenset({Rung.REMINDER, Rung.NOTICE_LETTER, Rung.SUMMONS, Rung.CIRCULAR}),
    Owner.COMMITTEE_OFFICE: frozenset({Rung.REMINDER}),
}


def outbox_key(hazard_id: str, deadline_id: str, rung: Rung) -> str:
    return f"escalation:{hazard_id}:{deadline_id}:{rung.value}"


def doc_number(prefix: str, series: str, year: int, serial: int) -> str:
    return f"{prefix}{series}〔{year}〕{serial}号"


def addressing(input: IssueEscalationInput, issuer_name: str) -> tuple[EscalationTarget, list[str]]:
    """Who the rung is addressed to, and who gets a copy of its letter (the street always follows its territory)."""
    letter = input.rung in DOCUMENT_RUNGS
    match input.deadline.owner:
        case Owner.ENTERPRISE:
            target = EscalationTarget(kind=Owner.ENTERPRISE, organisation=input.enterprise_name)
            return target, [input.street, input.department] if letter else []
        case Owner.DEPARTMENT:
            target = EscalationTarget(kind=Owner.DEPARTMENT, organisation=input.department)
            return target, [input.street] if letter else []
        case Owner.COMMITTEE_OFFICE:
            return EscalationTarget(kind=Owner.COMMITTEE_OFFICE, organisation=issuer_name), []


def _rejected(message: str) -> ApplicationError:
    return ApplicationError(message, type=ErrorType.INVALID_PAYLOAD.value, non_retryable=True)


class EscalationActivities:
    """Writes escalations to the read model; the escalation key (hazard, deadline, rung) makes retries harmless."""

    def __init__(
        self,
        engine: Engine,
        *,
        issuer_name: str,
        doc_number_prefix: str,
        heartbeat_every: float = ESCALATION_HEARTBEAT_TIMEOUT.total_seconds() / 4,
    ) -> None:
        self._engine = engine
        self._issuer_name = issuer_name
        self._prefix = doc_number_prefix
        self._heartbeat_every = heartbeat_every

    @activity.defn(name=ISSUE_ESCALATION_ACTIVITY)
    def issue_escalation(self, input: IssueEscalationInput) -> EscalationRecord:
        deadline = input.deadline
        if input.rung not in LADDERS[deadline.owner]:
            raise _rejected(f"a {deadline.owner.value}-owned deadline has no {input.rung.value} rung to issue")
        scheduled = next((r for r in deadline.rungs if r.rung is input.rung), None)
        if scheduled is None:
            raise _rejected(f"deadline {deadline.id} has no scheduled {input.rung.value} rung")
        # The transaction can queue behind other writers' locks (busy_timeout, row locks) for longer than the
        # heartbeat timeout: it beats while it waits.
        with heartbeating(self._heartbeat_every):
            record = self._issue(input, scheduled.working_days_late)
        activity.logger.info(
            "escalation %s on %s/%s: %s", record.rung.value, record.hazard_id, record.deadline_id, record.doc_number
        )
        return record

    def _issue(self, input: IssueEscalationInput, working_days_late: int) -> EscalationRecord:
        deadline = input.deadline
        key = (input.hazard_id, deadline.id, input.rung.value)
        with Session(self._engine) as session:
            existing = _find(session, *key)
            if existing is not None:
                return record_of(existing)

            # Counter, escalation and outbox commit together or not at all: a failed or losing attempt
            # rolls its number back, so numbers have no gaps and are never handed out twice.
            number = None
            if input.rung in DOCUMENT_RUNGS:
                year = input.scheduled_at.astimezone(CHINA_TZ).year
                serial = _next_doc_serial(session, self._engine, self._prefix, SERIES[input.rung], year)
                number = doc_number(self._prefix, SERIES[input.rung], year, serial)
            target, copied_to = addressing(input, self._issuer_name)
            record = EscalationRecord(
                hazard_id=input.hazard_id,
                deadline_id=deadline.id,
                deadline_kind=deadline.kind,
                rung=input.rung,
                level=RUNG_LEVELS[input.rung],
                target=target,
                copied_to=copied_to,
                issued_by=self._issuer_name,
                doc_number=number,
                at=input.scheduled_at,
                due=deadline.due,
                working_days_late=working_days_late,
                reason=reason(input, working_days_late),
            )
            letter = (
                compose_letter(
                    input,
                    issuer=self._issuer_name,
                    doc_number=number,
                    copied_to=copied_to,
                    working_days_late=working_days_late,
                ).model_dump(mode="json")
                if number is not None
                else {}
            )
            escalations = SQLModel.metadata.tables[EscalationRow.__tablename__]
            inserted = session.execute(
                dialect_insert(self._engine, escalations)
                .values(escalation_row(record, letter))
                .on_conflict_do_nothing(index_elements=["hazard_id", "deadline_id", "rung"])
                .returning(escalations.c.id)
            ).scalar_one_or_none()
            if inserted is None:
                # A concurrent attempt at the same rung committed first (we waited on its lock): its record stands.
                session.rollback()
                winner = _find(session, *key)
                assert winner is not None, f"escalation {key} vanished after a conflict"
                return record_of(winner)
            now = datetime.now(UTC)
            session.add(
                OutboxRow(
                    key=outbox_key(input.hazard_id, deadline.id, input.rung),
                    topic="reminder" if input.rung is Rung.REMINDER else "escalation",
                    payload=record.model_dump(mode="json"),
                    created_at=now,
                    next_attempt_at=now,
                )
            )
            session.commit()
            return record


def _find(session: Session, hazard_id: str, deadline_id: str, rung: str) -> EscalationRow | None:
    return session.exec(
        select(EscalationRow).where(
            EscalationRow.hazard_id == hazard_id, EscalationRow.deadline_id == deadline_id, EscalationRow.rung == rung
        )
    ).first()


def _next_doc_serial(session: Session, engine: Engine, issuer: str, series: str, year: int) -> int:
    """Bumps the counter in one statement (the first number of a year inserts it); its row lock is held until
    the caller's commit or rollback, so concurrent issuers queue instead of sharing a number."""
    counters = SQLModel.metadata.tables[DocNumberCounter.__tablename__]
    upsert = dialect_insert(engine, counters).values(issuer=issuer, series=series, year=year, last=1)
    upsert = upsert.on_conflict_do_update(
        index_elements=[counters.c.issuer, counters.c.series, counters.c.year],
        set_={"last": counters.c["last"] + 1},
    )
    return int(session.execute(upsert.returning(counters.c["last"])).scalar_one())
