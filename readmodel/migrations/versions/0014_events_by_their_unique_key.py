"""a hazard's events are looked up by their unique key (hazard_id, seq) alone: the index on hazard_id goes

Every query of the events by hazard (a hazard's timeline, its audit trail, the stage-duration metric) is served by
the unique key's index, which leads with the hazard; the index on hazard_id alone was its prefix, and cost each
event row written one more index entry.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_hazard_event_hazard_id", table_name="hazard_event")


def downgrade() -> None:
    op.create_index("ix_hazard_event_hazard_id", "hazard_event", ["hazard_id"])
