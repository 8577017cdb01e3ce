"""deadlines, escalations, policy, calendar and outbox

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import readmodel.types

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "calendar_override",
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("holidays", sa.JSON(), nullable=False),
        sa.Column("workdays", sa.JSON(), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=True),
        sa.Column("updated_at", readmodel.types.AwareDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("year"),
    )
    op.create_table(
        "doc_number_counter",
        sa.Column("issuer", sa.String(length=100), nullable=False),
        sa.Column("series", sa.String(length=32), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("issuer", "series", "year"),
    )
    op.create_table(
        "escalation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hazard_id", sa.String(length=64), nullable=False),
        sa.Column("deadline_id", sa.String(length=200), nullable=False),
        sa.Column("deadline_kind", sa.String(length=32), nullable=False),
        sa.Column("rung", sa.String(length=32), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("target_kind", sa.String(length=32), nullable=False),
        sa.Column("target_organisation", sa.String(length=200), nullable=False),
        sa.Column("copied_to", sa.JSON(), nullable=False),
        sa.Column("issued_by", sa.String(length=200), nullable=False),
        sa.Column("doc_number", sa.String(length=100), nullable=True),
        sa.Column("at", readmodel.types.AwareDateTime(timezone=True), nullable=False),
        sa.Column("due", readmodel.types.AwareDateTime(timezone=True), nullable=False),
        sa.Column("working_days_late", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("letter", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("doc_number"),
        sa.UniqueConstraint("hazard_id", "deadline_id", "rung", name="uq_escalation_rung"),
    )
    with op.batch_alter_table("escalation", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_escalation_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_escalation_hazard_id"), ["hazard_id"], unique=False)

    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("topic", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", readmodel.types.AwareDateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", readmodel.types.AwareDateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", readmodel.types.AwareDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=1000), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_delivered_at"), ["delivered_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_outbox_next_attempt_at"), ["next_attempt_at"], unique=False)

    op.create_table(
        "policy_version",
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("industry_overrides", sa.JSON(), nullable=False),
        sa.Column("note", sa.String(length=1000), nullable=True),
        sa.Column("created_at", readmodel.types.AwareDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("version"),
    )
    with op.batch_alter_table("hazard", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rag", sa.String(length=32), nullable=False, server_default="green"))
        batch_op.add_column(sa.Column("escalation_level", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("listed", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("penalty_exempt", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("policy_version", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("deadline_provisional", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.create_index(batch_op.f("ix_hazard_escalation_level"), ["escalation_level"], unique=False)
        batch_op.create_index(batch_op.f("ix_hazard_listed"), ["listed"], unique=False)
        batch_op.create_index(batch_op.f("ix_hazard_rag"), ["rag"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("hazard", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hazard_rag"))
        batch_op.drop_index(batch_op.f("ix_hazard_listed"))
        batch_op.drop_index(batch_op.f("ix_hazard_escalation_level"))
        batch_op.drop_column("deadline_provisional")
        batch_op.drop_column("policy_version")
        batch_op.drop_column("penalty_exempt")
        batch_op.drop_column("listed")
        batch_op.drop_column("escalation_level")
        batch_op.drop_column("rag")

    op.drop_table("policy_version")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_next_attempt_at"))
        batch_op.drop_index(batch_op.f("ix_outbox_delivered_at"))

    op.drop_table("outbox")
    with op.batch_alter_table("escalation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_escalation_hazard_id"))
        batch_op.drop_index(batch_op.f("ix_escalation_at"))

    op.drop_table("escalation")
    op.drop_table("doc_number_counter")
    op.drop_table("calendar_override")
