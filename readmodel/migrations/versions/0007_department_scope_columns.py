"""the department scope on the hazard row: reporter organisation and transferred (issue 7, bench/readside.py)

A department sees the hazards assigned or transferred to it, those it reported, and the hazards of its industries
that were never transferred (contracts.jurisdiction.sees). Read from the events, that rule cost two correlated
subqueries per candidate hazard; kept on the row, it is three column tests that indexes answer.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "hazard", sa.Column("reporter_organisation", sa.String(length=200), nullable=False, server_default="")
    )
    op.add_column("hazard", sa.Column("transferred", sa.Boolean(), nullable=False, server_default=sa.false()))
    # Rows written before this revision: from their events, as the projection writes them from now on (the
    # report is event 1, its actor the reporter).
    op.execute(
        """
        UPDATE hazard SET
            reporter_organisation = COALESCE(
                (SELECT e.actor_organisation FROM hazard_event e WHERE e.hazard_id = hazard.hazard_id AND e.seq = 1),
                ''
            ),
            transferred = EXISTS (
                SELECT 1 FROM hazard_event e WHERE e.hazard_id = hazard.hazard_id AND e.action = 'transfer'
            )
        """
    )
    # With the department's own index, the rule's three ways in are index lookups (SQLite: a multi-index OR).
    op.create_index("ix_hazard_reporter_organisation", "hazard", ["reporter_organisation"])
    op.create_index("ix_hazard_industry_transferred", "hazard", ["industry", "transferred"])


def downgrade() -> None:
    op.drop_index("ix_hazard_industry_transferred", table_name="hazard")
    op.drop_index("ix_hazard_reporter_organisation", table_name="hazard")
    with op.batch_alter_table("hazard") as batch:
        batch.drop_column("transferred")
        batch.drop_column("reporter_organisation")
