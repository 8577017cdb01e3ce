"""the hazard's indexes the queries use: a source's hazards counted by stage and deadline on PostgreSQL; three unused
indexes dropped

PostgreSQL counted the committee's hazards of one source not overdue (118,201 of 200,000 at national scale) by
reading the whole table: 48 ms of a 54-60 ms page, the two pages of the 384 filter combinations over 50 ms.
`(source, stage, next_deadline)` answers that count from the index alone: the page took 23 ms. It replaces the
index on the source alone, which the benchmark's queries and 384 filter pages used 4 times in all.

Dropped, as no query looks a hazard up by them, so they only cost each hazard written one more entry:
- the source alone on SQLite: the list never takes the source as its way in there (readmodel.queries: a few-valued
  filter, carried in every way in since 0015), and statistics read it from their own indexes;
- the enterprise's name: the search finds it by a substring (0016), which a B-tree cannot answer;
- the escalation level: the board counts it in its cells, and a department's ways in hold it.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SOURCE_COUNTED = "ix_hazard_source_stage_next_deadline"
UNUSED = {
    "ix_hazard_source": ["source"],
    "ix_hazard_enterprise_name": ["enterprise_name"],
    "ix_hazard_escalation_level": ["escalation_level"],
}


def upgrade() -> None:
    for name in UNUSED:
        op.drop_index(name, table_name="hazard")
    if op.get_bind().dialect.name == "postgresql":
        op.create_index(SOURCE_COUNTED, "hazard", ["source", "stage", "next_deadline"])


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index(SOURCE_COUNTED, table_name="hazard")
    for name, columns in UNUSED.items():
        op.create_index(name, "hazard", columns)
