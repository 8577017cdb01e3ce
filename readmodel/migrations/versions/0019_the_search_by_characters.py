"""the list's search of one character indexed by the characters of the searched texts (readmodel.text_grams)

A text of one character (氨, 罐, a street's 区) holds neither a trigram nor a pair, so every such search read every
hazard. At national scale (200,000 hazards) the committee's search for 仓, which 50,001 hazards hold, counted in
102 ms on SQLite and 70 on PostgreSQL, a character no hazard holds in 110 and 290 (raw SQL); from an index of the
characters, in 1.7 and 23 ms, and 0.1 and 0.2.

The same shape as 0018, whose builders this takes: SQLite, a contentless FTS5 table, `hazard_chars`, under the
rowids of `hazard_text_rowid`, kept by 0018's triggers, extended again, calling `text_chars` (a Python function
each connection registers). PostgreSQL: a second GIN index on `hazard_search`, on the PL/pgSQL function
`text_chars`; 0018's triggers already keep the copy.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

from readmodel.migrate import migration_module

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# 0018's module: its builders, and its triggers, which this one extends and a downgrade puts back.
_0018 = migration_module("0018")
CHARS_KEPT: dict[str, tuple[str, str]] = _0018.tokens_kept("hazard_chars", "chars", "text_chars")
FILLED: str = _0018.tokens_filled("hazard_chars", "chars", "text_chars")
POSTGRESQL_FUNCTION: str = _0018.postgresql_function("text_chars", 1)
CHARS_INDEX = "ix_hazard_search_chars"
# This migration's triggers: 0018's, keeping the characters as well.
TRIGGERS = [_0018.keeping(trigger, CHARS_KEPT) for trigger in _0018.TRIGGERS]


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("CREATE VIRTUAL TABLE hazard_chars USING fts5(chars, content='', detail='none')")
        _0018.replace_triggers(TRIGGERS)
        op.execute(FILLED)
        return
    op.execute(POSTGRESQL_FUNCTION)
    op.execute(f"CREATE INDEX {CHARS_INDEX} ON hazard_search USING gin (text_chars({_0018.LISTED}))")
    # readmodel.search asks the planner how many hazards hold a character: its statistics of the new index.
    op.execute("ANALYZE hazard_search")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _0018.replace_triggers(_0018.TRIGGERS)
        op.execute("DROP TABLE hazard_chars")
        return
    op.execute(f"DROP INDEX {CHARS_INDEX}")
    op.execute("DROP FUNCTION text_chars(text[])")
