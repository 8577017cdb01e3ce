"""SQLite: each hazard's number in the search's indexes, on its row and in every way into the list, so a search
with other filters tests its text in the indexes alone

A character or a pair many hazards hold (仓, 仓库) is not looked up in its index (readmodel.search.FEW_HOLDING):
with any other filter, or in a jurisdiction, the list read the row of every hazard the filters left, to test its
text with LIKE. At national scale (200,000 hazards) the committee's overdue hazards holding 仓库 took 220 ms a page on
SQLite, those in 整改 99, a department's 72 (page 1) and 122 (page 11): nearly all of it reading 82,000, 40,000 and
23,000 rows.

The FTS5 tables of characters and pairs answer exactly whether a hazard holds one (readmodel.text_grams), under
the hazard's number in `hazard_text_rowid`. This copies that number onto the hazard's row, `text_rowid`, and adds it
to the ways-in indexes (migration 0015's and 0011's): the list then tests each hazard's number against the index's
matches in the way-in index alone. The number cannot be the row's own rowid, which a VACUUM may renumber (0016).
The insert trigger sets it on every hazard written from now on.

PostgreSQL: nothing; its search indexes live on `hazard_search`, keyed by the hazard's id.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from readmodel.migrate import migration_module

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_0011 = migration_module("0011")
_0018 = migration_module("0018")
_0019 = migration_module("0019")

NUMBERED: dict[str, tuple[str, str]] = {
    "hazard_text_insert": (
        "",
        f"UPDATE hazard SET text_rowid = {_0018.rowid_of('new')} WHERE hazard_id = new.hazard_id",
    ),
    "hazard_text_update": ("", ""),
    "hazard_text_delete": ("", ""),
}
TRIGGERS = [_0018.keeping(trigger, NUMBERED) for trigger in _0019.TRIGGERS]
FILLED = f"UPDATE hazard SET text_rowid = {_0018.rowid_of('hazard')}"

# The ways in: name, columns, and the partial index's condition.
WAYS_IN: list[tuple[str, list[str], sa.TextClause | None]] = [
    *((name, columns, None) for _, (name, columns) in migration_module("0015").REPLACED),
    ("ix_hazard_with_deadline_newest", _0011.COLUMNS, _0011.WITH_A_DEADLINE),
]


def _recreate_ways_in(*, numbered: bool) -> None:
    for name, columns, where in WAYS_IN:
        op.drop_index(name, table_name="hazard")
        op.create_index(name, "hazard", [*columns, "text_rowid"] if numbered else columns, sqlite_where=where)


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute("ALTER TABLE hazard ADD COLUMN text_rowid INTEGER")
    op.execute(FILLED)
    _0018.replace_triggers(TRIGGERS)
    _recreate_ways_in(numbered=True)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    _recreate_ways_in(numbered=False)
    _0018.replace_triggers(_0019.TRIGGERS)
    op.execute("ALTER TABLE hazard DROP COLUMN text_rowid")
