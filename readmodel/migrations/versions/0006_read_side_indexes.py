"""read-side indexes for national scale (issue 7, bench/readside.py)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The list's order (newest report first, then id): a page is an index walk, not a sort of every match.
    op.create_index("ix_hazard_reported_at_id", "hazard", ["reported_at", "hazard_id"])
    # The overdue filter (open, next deadline passed) answered from the index alone, count included.
    op.create_index("ix_hazard_next_deadline_stage", "hazard", ["next_deadline", "stage"])
    # A street's hazards in a stage: the street and stage filters the list pages combine most.
    op.create_index("ix_hazard_street_stage", "hazard", ["street", "stage"])


def downgrade() -> None:
    for name in ("ix_hazard_street_stage", "ix_hazard_next_deadline_stage", "ix_hazard_reported_at_id"):
        op.drop_index(name, table_name="hazard")
