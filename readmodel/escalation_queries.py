"""Read-model queries for escalations and their notifications. Each takes the session by keyword."""

from sqlalchemy import func
from sqlmodel import Session, col, select

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
