"""ledger import jobs

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import readmodel.types

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "import_job",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("file_sha256", sa.String(length=64), nullable=False),
        sa.Column("only_valid", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("total_rows", sa.Integer(), nullable=False),
        sa.Column("valid_rows", sa.Integer(), nullable=False),
        sa.Column("imported", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.Column("created_by_id", sa.String(length=200), nullable=False),
        sa.Column("created_by_name", sa.String(length=200), nullable=False),
        sa.Column("created_by_role", sa.String(length=32), nullable=False),
        sa.Column("created_by_organisation", sa.String(length=200), nullable=False),
        sa.Column("created_at", readmodel.types.AwareDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", readmodel.types.AwareDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", readmodel.types.AwareDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("import_job", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_import_job_created_at"), ["created_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_import_job_created_by_organisation"), ["created_by_organisation"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_import_job_file_sha256"), ["file_sha256"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("import_job", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_import_job_file_sha256"))
        batch_op.drop_index(batch_op.f("ix_import_job_created_by_organisation"))
        batch_op.drop_index(batch_op.f("ix_import_job_created_at"))
    op.drop_table("import_job")
