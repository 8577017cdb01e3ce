"""hazard timelines for statistics as of a date, and the index that counts them (issue 7, bench/readside.py)

Statistics as of a date folded every event of every hazard in Python: 10 s for 200,000 hazards. Kept on the row
(planned_at, ended_at, listed_since, found_to_closed_us) and in listing_period, each hazard's state as of any date
is a few column tests, and statistics become one aggregate over one covering index.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import readmodel.types
from readmodel.timeline import refresh_timelines

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMELINE = ["planned_at", "ended_at", "listed_since"]
# Everything an aggregate of hazard_statistics reads, so it never reads a row: the window, the three group keys and
# the jurisdiction's columns (readmodel.queries.scope_branches), the figures, and the id that finds listing periods.
STATISTICS_COLUMNS = [
    "reported_at",
    "found_at",
    "street",
    "industry",
    "department",
    "reporter_organisation",
    "transferred",
    "source",
    *TIMELINE,
    "found_to_closed_us",
    "next_deadline",
    "five_in_place",
    "funds_yuan",
    "hazard_id",
]


def upgrade() -> None:
    for name in TIMELINE:
        op.add_column("hazard", sa.Column(name, readmodel.types.AwareDateTime(timezone=True), nullable=True))
    op.add_column("hazard", sa.Column("found_to_closed_us", sa.BigInteger(), nullable=True))
    op.create_table(
        "listing_period",
        sa.Column("hazard_id", sa.String(length=64), primary_key=True),
        sa.Column("seq", sa.Integer(), primary_key=True),
        sa.Column("listed_at", readmodel.types.AwareDateTime(timezone=True), nullable=False),
        sa.Column("delisted_at", readmodel.types.AwareDateTime(timezone=True), nullable=True),
    )
    # Rows written before this revision: from their events, by the same statements the projection runs from now on.
    refresh_timelines(op.get_bind(), None)
    op.create_index("ix_hazard_statistics", "hazard", STATISTICS_COLUMNS)


def downgrade() -> None:
    op.drop_index("ix_hazard_statistics", table_name="hazard")
    op.drop_table("listing_period")
    with op.batch_alter_table("hazard") as batch:
        batch.drop_column("found_to_closed_us")
        for name in reversed(TIMELINE):
            batch.drop_column(name)
