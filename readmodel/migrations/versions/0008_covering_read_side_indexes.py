"""read-side indexes that answer the overdue list, the department scope and the board by index (issue 7)

Single- and two-column indexes give way to wider ones that start with the same columns, so every lookup the old
ones served is still served, two indexes fewer are written per hazard, and:
- the overdue list sorts the ids of every overdue hazard from the index alone (`next_deadline, stage,
  reported_at, hazard_id`) instead of reading each row to sort it;
- each way into a department's jurisdiction is one index with the stage in it, so a department's hazards in a
  stage are an index lookup per way (readmodel.queries.hazard_conditions repeats the filters in each way);
- the board's two matrices (web.queries.open_matrix: street x industry, department) count open hazards by
  colour, level and listing from an index alone, without reading a row.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (dropped, their columns) -> (created, its columns): each created index starts with each dropped one's columns.
REPLACED: list[tuple[dict[str, list[str]], tuple[str, list[str]]]] = [
    (
        {"ix_hazard_next_deadline": ["next_deadline"], "ix_hazard_next_deadline_stage": ["next_deadline", "stage"]},
        ("ix_hazard_overdue", ["next_deadline", "stage", "reported_at", "hazard_id"]),
    ),
    (
        {"ix_hazard_department": ["department"]},
        ("ix_hazard_department_board", ["department", "stage", "rag", "escalation_level", "listed"]),
    ),
    (
        {"ix_hazard_street": ["street"], "ix_hazard_street_stage": ["street", "stage"]},
        ("ix_hazard_street_board", ["street", "stage", "industry", "rag", "escalation_level", "listed"]),
    ),
    (
        {"ix_hazard_reporter_organisation": ["reporter_organisation"]},
        ("ix_hazard_reporter_organisation_stage", ["reporter_organisation", "stage"]),
    ),
    (
        {"ix_hazard_industry_transferred": ["industry", "transferred"]},
        ("ix_hazard_industry_transferred_stage", ["industry", "transferred", "stage"]),
    ),
]


def upgrade() -> None:
    for dropped, (name, columns) in REPLACED:
        op.create_index(name, "hazard", columns)
        for old in dropped:
            op.drop_index(old, table_name="hazard")


def downgrade() -> None:
    for dropped, (name, _) in REPLACED:
        for old, columns in dropped.items():
            op.create_index(old, "hazard", columns)
        op.drop_index(name, table_name="hazard")
