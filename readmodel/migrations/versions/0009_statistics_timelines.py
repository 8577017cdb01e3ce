"""hazard timelines for statistics as of a date, and the index that counts them (issue 7, bench/readside.py)

Statistics as of a date folded every event of every hazard in Python: 10 s for 200,000 hazards. Kept on the row
(planned_at, ended_at, listed_since, escalated_since, found_to_closed_us), in listing_period and on each rung
(stage_done_at, to_done_us), each hazard's state as of any date is a few column tests, and statistics become one
aggregate over one covering index, with an index lookup for each hazard escalated by then.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import readmodel.types

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMELINE = ["planned_at", "ended_at", "listed_since", "escalated_since"]
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

# A hazard's rungs fired by a date are one range of this index, and everything statistics read of them.
RUNG_COLUMNS = ["hazard_id", "at", "rung", "stage_done_at", "to_done_us"]


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
    op.add_column("escalation", sa.Column("stage_done_at", readmodel.types.AwareDateTime(timezone=True), nullable=True))
    op.add_column("escalation", sa.Column("to_done_us", sa.BigInteger(), nullable=True))
    # Rows written before this revision get their timelines in 0010, which adds to them: readmodel.timeline's
    # statements set every timeline column, so they can only run once all of them exist.
    op.create_index("ix_hazard_statistics", "hazard", STATISTICS_COLUMNS)
    op.create_index("ix_escalation_effectiveness", "escalation", RUNG_COLUMNS)


def downgrade() -> None:
    op.drop_index("ix_escalation_effectiveness", table_name="escalation")
    op.drop_index("ix_hazard_statistics", table_name="hazard")
    with op.batch_alter_table("escalation") as batch:
        batch.drop_column("to_done_us")
        batch.drop_column("stage_done_at")
    op.drop_table("listing_period")
    with op.batch_alter_table("hazard") as batch:
        batch.drop_column("found_to_closed_us")
        for name in reversed(TIMELINE):
            batch.drop_column(name)
