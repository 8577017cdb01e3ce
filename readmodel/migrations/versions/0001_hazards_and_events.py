"""hazards and events

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import readmodel.types

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "hazard",
        sa.Column("hazard_id", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("enterprise_name", sa.String(length=200), nullable=False),
        sa.Column("enterprise_credit_code", sa.String(length=18), nullable=False),
        sa.Column("street", sa.String(length=200), nullable=False),
        sa.Column("industry", sa.String(length=32), nullable=False),
        sa.Column("department", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("criterion_standard", sa.String(length=200), nullable=False),
        sa.Column("criterion_clause", sa.String(length=200), nullable=False),
        sa.Column("location", sa.String(length=200), nullable=False),
        sa.Column("found_at", readmodel.types.AwareDateTime(timezone=True), nullable=False),
        sa.Column("reported_at", readmodel.types.AwareDateTime(timezone=True), nullable=False),
        sa.Column("reporter_id", sa.String(length=200), nullable=False),
        sa.Column("reporter_name", sa.String(length=200), nullable=False),
        sa.Column("stage", sa.String(length=32), nullable=False),
        sa.Column("five_in_place", sa.Boolean(), nullable=False),
        sa.Column("funds_yuan", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("rectify_deadline", sa.Date(), nullable=True),
        sa.Column("rejection_count", sa.Integer(), nullable=False),
        sa.Column("next_deadline", readmodel.types.AwareDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", readmodel.types.AwareDateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", readmodel.types.AwareDateTime(timezone=True), nullable=False),
        sa.Column("description", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("hazard_id"),
    )
    with op.batch_alter_table("hazard", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_hazard_department"), ["department"], unique=False)
        batch_op.create_index(batch_op.f("ix_hazard_enterprise_credit_code"), ["enterprise_credit_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_hazard_enterprise_name"), ["enterprise_name"], unique=False)
        batch_op.create_index(batch_op.f("ix_hazard_found_at"), ["found_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_hazard_industry"), ["industry"], unique=False)
        batch_op.create_index(batch_op.f("ix_hazard_next_deadline"), ["next_deadline"], unique=False)
        batch_op.create_index(batch_op.f("ix_hazard_source"), ["source"], unique=False)
        batch_op.create_index(batch_op.f("ix_hazard_stage"), ["stage"], unique=False)
        batch_op.create_index(batch_op.f("ix_hazard_street"), ["street"], unique=False)

    op.create_table(
        "hazard_event",
        sa.Column("hazard_id", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("actor_id", sa.String(length=200), nullable=False),
        sa.Column("actor_name", sa.String(length=200), nullable=False),
        sa.Column("actor_role", sa.String(length=32), nullable=False),
        sa.Column("actor_organisation", sa.String(length=200), nullable=False),
        sa.Column("at", readmodel.types.AwareDateTime(timezone=True), nullable=False),
        sa.Column("stage_before", sa.String(length=32), nullable=True),
        sa.Column("stage_after", sa.String(length=32), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("hazard_id", "seq", name="uq_hazard_event_seq"),
    )
    with op.batch_alter_table("hazard_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_hazard_event_hazard_id"), ["hazard_id"], unique=False)

    op.create_table(
        "hazard_serial",
        sa.Column("prefix", sa.String(length=32), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("prefix"),
    )
    op.create_table(
        "report_request",
        sa.Column("request_id", sa.String(length=128), nullable=False),
        sa.Column("hazard_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", readmodel.types.AwareDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("request_id"),
        sa.UniqueConstraint("hazard_id"),
    )


def downgrade() -> None:
    op.drop_table("report_request")
    op.drop_table("hazard_serial")
    with op.batch_alter_table("hazard_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hazard_event_hazard_id"))

    op.drop_table("hazard_event")
    with op.batch_alter_table("hazard", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hazard_street"))
        batch_op.drop_index(batch_op.f("ix_hazard_stage"))
        batch_op.drop_index(batch_op.f("ix_hazard_source"))
        batch_op.drop_index(batch_op.f("ix_hazard_next_deadline"))
        batch_op.drop_index(batch_op.f("ix_hazard_industry"))
        batch_op.drop_index(batch_op.f("ix_hazard_found_at"))
        batch_op.drop_index(batch_op.f("ix_hazard_enterprise_name"))
        batch_op.drop_index(batch_op.f("ix_hazard_enterprise_credit_code"))
        batch_op.drop_index(batch_op.f("ix_hazard_department"))

    op.drop_table("hazard")
