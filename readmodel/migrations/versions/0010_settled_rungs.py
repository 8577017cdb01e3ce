"""each hazard's rungs as they read once settled, so statistics look up only the rungs still moving (issue 7)

Statistics as of a date looked up the rungs of every hazard escalated by then: 60,000 index ranges nationally.
Once its last counted rung has fired and each that is done is done (rungs_settled_at), a hazard's rungs read the
same as of any later date: the row keeps them as statistics read them (settled_rungs), in the covering index.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import readmodel.types
from readmodel.timeline import refresh_timelines

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# 0009's index, and this revision's: the same with the settled rungs before the id.
STATISTICS_0009 = [
    "reported_at",
    "found_at",
    "street",
    "industry",
    "department",
    "reporter_organisation",
    "transferred",
    "source",
    "planned_at",
    "ended_at",
    "listed_since",
    "escalated_since",
    "found_to_closed_us",
    "next_deadline",
    "five_in_place",
    "funds_yuan",
    "hazard_id",
]
STATISTICS_COLUMNS = [*STATISTICS_0009[:-1], "rungs_settled_at", "settled_rungs", "hazard_id"]


def upgrade() -> None:
    op.drop_index("ix_hazard_statistics", table_name="hazard")
    op.add_column("hazard", sa.Column("rungs_settled_at", readmodel.types.AwareDateTime(timezone=True), nullable=True))
    op.add_column("hazard", sa.Column("settled_rungs", sa.String(), nullable=True))
    # Every timeline of rows written before this revision, 0009's columns included, by the statements the
    # projection runs from now on. They are today's statements, which set every timeline column: a later revision
    # adding one moves this backfill to itself (tests/test_migrations.py upgrades from 0008 and would fail).
    refresh_timelines(op.get_bind(), None)
    op.create_index("ix_hazard_statistics", "hazard", STATISTICS_COLUMNS)


def downgrade() -> None:
    op.drop_index("ix_hazard_statistics", table_name="hazard")
    with op.batch_alter_table("hazard") as batch:
        batch.drop_column("settled_rungs")
        batch.drop_column("rungs_settled_at")
    op.create_index("ix_hazard_statistics", "hazard", STATISTICS_0009)
