"""every way into the hazard list carries the list's filters, so a filtered page is counted and sorted from one index

A list reaches its hazards by one index per way in: the committee's by the stage or by the next deadline (overdue),
a department's by each branch of its jurisdiction (its own hazards, those it reported, its industries'). Those
indexes held the stage at most, so each filter of the 台账 (industry, colour, 挂牌督办, source, overdue, the finding
date) was tested on every row the index led to. SQLite, which keeps no statistics here, then often took the
filter's own one-column index instead (`listed`: 38% of the table) and read each of its rows. At national scale
(200,000 hazards), 146 of 384 filter combinations of the committee's and a department's first and eleventh pages took
over 50 ms: a department's overdue hazards in 整改 240-530 ms, its 挂牌督办 hazards 250-430 ms; the committee's
overdue hazards of an industry in 整改 180-220 ms; its hazards found before a date 330-360 ms.

Each way in now holds the filters and the list's order after its own columns (the next deadline right after the
stage, so overdue in a stage is a range), and readmodel.queries keeps the few-valued filters out of index
look-ups (the industry too, within a jurisdiction): a page's hazards are counted and their ids sorted from the way-in
index alone. The index of every hazard newest first, which a long list's page walks (readmodel.queries.walks), holds
the committee's filters as well: the walk tests them there instead of reading each hazard it passes (the
committee's 挂牌督办 hazards of a stage, page 11: 55-89 ms walked over rows).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FEW_VALUED = ["rag", "listed", "source"]
# The list's filters every way in tests in the index: the industry, the few-valued ones and the finding date.
FILTERS = ["industry", *FEW_VALUED, "found_at"]
ORDER = ["reported_at", "hazard_id"]

# (dropped, its columns) -> (created, its columns): each created index leads with the dropped one's way in, and holds
# all of its columns.
REPLACED: list[tuple[tuple[str, list[str]], tuple[str, list[str]]]] = [
    (
        ("ix_hazard_stage_deadline", ["stage", "next_deadline"]),
        ("ix_hazard_stage_filters", ["stage", "next_deadline", *FILTERS, *ORDER]),
    ),
    (
        ("ix_hazard_overdue", ["next_deadline", "stage", "reported_at", "hazard_id"]),
        ("ix_hazard_overdue_filters", ["next_deadline", "stage", *FILTERS, *ORDER]),
    ),
    (
        # A window of finding dates is a way in of its own.
        ("ix_hazard_found_at", ["found_at"]),
        ("ix_hazard_found_filters", ["found_at", "stage", "next_deadline", "industry", *FEW_VALUED, *ORDER]),
    ),
    (
        ("ix_hazard_reported_at_id", ORDER),
        ("ix_hazard_newest_filters", [*ORDER, "stage", "next_deadline", *FILTERS]),
    ),
    (
        # The board's department matrix counts by colour, rung and listing from it as well.
        ("ix_hazard_department_board", ["department", "stage", "rag", "escalation_level", "listed"]),
        (
            "ix_hazard_department_filters",
            ["department", "stage", "next_deadline", "escalation_level", *FILTERS, *ORDER],
        ),
    ),
    (
        ("ix_hazard_reporter_organisation_stage", ["reporter_organisation", "stage"]),
        (
            "ix_hazard_reporter_organisation_filters",
            ["reporter_organisation", "stage", "next_deadline", *FILTERS, *ORDER],
        ),
    ),
    (
        ("ix_hazard_industry_transferred_stage", ["industry", "transferred", "stage"]),
        (
            "ix_hazard_industry_transferred_filters",
            ["industry", "transferred", "stage", "next_deadline", *FEW_VALUED, "found_at", *ORDER],
        ),
    ),
]


def upgrade() -> None:
    for (old, _), (name, columns) in REPLACED:
        op.create_index(name, "hazard", columns)
        op.drop_index(old, table_name="hazard")


def downgrade() -> None:
    for (old, columns), (name, _) in REPLACED:
        op.create_index(old, "hazard", columns)
        op.drop_index(name, table_name="hazard")
