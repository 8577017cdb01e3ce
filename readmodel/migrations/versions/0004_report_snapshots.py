"""report snapshots

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import readmodel.types

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REFUSAL = "report_snapshot is immutable"

# A snapshot is a record of what was reported: the database itself refuses to change or remove one.
# A later batch_alter_table on report_snapshot (SQLite recreates the table) must create these triggers again.
SQLITE_TRIGGERS = [
    f"CREATE TRIGGER report_snapshot_no_{verb.lower()} BEFORE {verb} ON report_snapshot "
    f"BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END"
    for verb in ("UPDATE", "DELETE")
]
POSTGRESQL_TRIGGERS = [
    "CREATE FUNCTION report_snapshot_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ "
    f"BEGIN RAISE EXCEPTION '{REFUSAL}' USING ERRCODE = 'insufficient_privilege'; END $$",
    "CREATE TRIGGER report_snapshot_no_change BEFORE UPDATE OR DELETE ON report_snapshot "
    "FOR EACH ROW EXECUTE FUNCTION report_snapshot_refuse()",
    "CREATE TRIGGER report_snapshot_no_truncate BEFORE TRUNCATE ON report_snapshot "
    "FOR EACH STATEMENT EXECUTE FUNCTION report_snapshot_refuse()",
]


def upgrade() -> None:
    op.create_table(
        "report_snapshot",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("trigger", sa.String(length=32), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("cutoff", readmodel.types.AwareDateTime(timezone=True), nullable=False),
        sa.Column("generated_at", readmodel.types.AwareDateTime(timezone=True), nullable=False),
        sa.Column("requested_by", sa.String(length=200), nullable=False),
        sa.Column("workflow_id", sa.String(length=300), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "trigger", "cutoff", name="uq_report_snapshot_run"),
    )
    with op.batch_alter_table("report_snapshot", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_report_snapshot_as_of"), ["as_of"], unique=False)
        batch_op.create_index(batch_op.f("ix_report_snapshot_generated_at"), ["generated_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_report_snapshot_kind"), ["kind"], unique=False)

    for statement in SQLITE_TRIGGERS if op.get_bind().dialect.name == "sqlite" else POSTGRESQL_TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER report_snapshot_no_delete")
        op.execute("DROP TRIGGER report_snapshot_no_update")
    else:
        op.execute("DROP TRIGGER report_snapshot_no_truncate ON report_snapshot")
        op.execute("DROP TRIGGER report_snapshot_no_change ON report_snapshot")
        op.execute("DROP FUNCTION report_snapshot_refuse()")
    with op.batch_alter_table("report_snapshot", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_report_snapshot_kind"))
        batch_op.drop_index(batch_op.f("ix_report_snapshot_generated_at"))
        batch_op.drop_index(batch_op.f("ix_report_snapshot_as_of"))

    op.drop_table("report_snapshot")
