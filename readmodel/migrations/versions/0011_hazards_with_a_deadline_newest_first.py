"""hazards with a deadline, newest first, so a page of overdue hazards is read in order (issue 7)

The overdue list took every overdue hazard from `ix_hazard_overdue` and sorted them for a page of 50: at national
scale 81,799 of them, 25 ms of the page's 40 on SQLite. This index holds only hazards with a deadline (the open
ones, and a closed one whose deadlines still run), newest first, with what the overdue condition reads, so
`readmodel.queries.list_hazards` reads them in the page's order and stops at the page's end when many are overdue.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The overdue condition tests `next_deadline is not null` as written, which is what tells SQLite this partial
# index holds every row the query can match.
WITH_A_DEADLINE = sa.text("next_deadline IS NOT NULL")
COLUMNS = ["reported_at", "hazard_id", "stage", "next_deadline"]


def upgrade() -> None:
    op.create_index(
        "ix_hazard_with_deadline_newest",
        "hazard",
        COLUMNS,
        sqlite_where=WITH_A_DEADLINE,
        postgresql_where=WITH_A_DEADLINE,
    )


def downgrade() -> None:
    op.drop_index("ix_hazard_with_deadline_newest", table_name="hazard")
