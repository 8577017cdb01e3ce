"""a stage's hazards with their next deadline, so counting a stage's overdue (or not overdue) hazards reads one index

A list's count of the committee's hazards in one stage, overdue or not, took the stage's index and read every one
of those hazards' rows for its deadline: at national scale 45 ms for the 39,857 in 整改, 28 ms for the 1,854 in
制定方案 not overdue. With the deadline in the stage's index the count reads the index alone: 1.4 and 2.4 ms. The
index on the stage alone is its prefix, and goes.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_hazard_stage_deadline", "hazard", ["stage", "next_deadline"])
    op.drop_index("ix_hazard_stage", table_name="hazard")


def downgrade() -> None:
    op.create_index("ix_hazard_stage", "hazard", ["stage"])
    op.drop_index("ix_hazard_stage_deadline", table_name="hazard")
