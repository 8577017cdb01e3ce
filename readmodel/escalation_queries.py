"""Read-model queries for escalations and their notifications. Each takes the session by keyword."""

from sqlalchemy import func
from sqlmodel import Session, col, select

from contracts.deadlines import EscalationRecord, EscalationTarget
from readmodel.models import EscalationRow, OutboxRow


def hazard_escalations(*, session: Session, hazard_id: str) -> list[EscalationRow]:
    """A hazard's escalations in the order they were issued."""
    rows = session.exec(
        select(EscalationRow)
        .where(EscalationRow.hazard_id == hazard_id)
        .order_by(col(EscalationRow.at), col(EscalationRow.id))
    ).all()
    return list(rows)


def escalation(*, session: Session, escalation_id: int) -> EscalationRow | None:
    return session.get(EscalationRow, escalation_id)


def backlog(*, session: Session) -> int:
    """Notifications not yet delivered to the webhook."""
    return session.exec(select(func.count()).select_from(OutboxRow).where(col(OutboxRow.delivered_at).is_(None))).one()


def record_of(row: EscalationRow) -> EscalationRecord:
    return EscalationRecord(
        hazard_id=row.hazard_id,
        deadline_id=row.deadline_id,
        deadline_kind=row.deadline_kind,
        rung=row.rung,
        level=row.level,
        target=EscalationTarget(kind=row.target_kind, organisation=row.target_organisation),
        copied_to=row.copied_to,
        issued_by=row.issued_by,
        doc_number=row.doc_number,
        at=row.at,
        due=row.due,
        working_days_late=row.working_days_late,
        reason=row.reason,
    )
