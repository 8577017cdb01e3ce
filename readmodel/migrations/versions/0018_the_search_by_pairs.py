"""the list's search of two characters indexed by the pairs of characters in a row (readmodel.text_grams)

A text of two characters (most Chinese words) holds no trigram, so 0016's indexes could not find it: every such
search read every hazard. At national scale (200,000 hazards) the committee's search for 仓库, which 39,287 hazards
hold, took 111-114 ms on SQLite and 72-80 ms on PostgreSQL, nearly all of it the count; a word no hazard holds as
long.

SQLite: a contentless FTS5 table, `hazard_pairs`, one row per hazard under the rowid 0016 gave it in
`hazard_text_rowid`, holding the hazard's pairs as tokens (`text_pairs`, a Python function each connection
registers). 0016's triggers are replaced by ones that keep both tables. A contentless table forgets what it was
given: a row is taken out by giving its pairs again, computed from the old row, so a change to how
readmodel.text_grams cuts a text needs a migration that fills the table again.
PostgreSQL: `hazard_search`, a copy of the four columns kept by triggers, with a GIN index on the function
`text_pairs` (PL/pgSQL), the pairs as a text array.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

from readmodel.migrate import migration_module

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# 0016's module: its searched columns, and its triggers, which this one extends and a downgrade puts back.
_0016 = migration_module("0016")
# The searched columns, 0016's, in its order: the order readmodel.search calls PostgreSQL's `text_pairs` in, to match
# the index's expression.
SEARCHED: list[str] = _0016.TEXT_COLUMNS
LISTED = ", ".join(SEARCHED)
TEXTS = [column for column in SEARCHED if column != "hazard_id"]


def tokens_of(function: str, row: str) -> str:
    return f"{function}({', '.join(f'{row}.{column}' for column in SEARCHED)})"


def rowid_of(row: str) -> str:
    """The hazard's number in `hazard_text_rowid`, the rowid of its search rows, for `row` (new, old, a table)."""
    return f"(SELECT id FROM hazard_text_rowid WHERE hazard_id = {row}.hazard_id)"


def tokens_kept(table: str, column: str, function: str) -> dict[str, tuple[str, str]]:
    """What each of 0016's triggers does to a contentless FTS5 table of the tokens `function` cuts a hazard's texts
    into, as well: first (a row's tokens taken out, while its rowid is known), and last (its tokens put in, once it
    has one). A contentless table needs the very tokens it was given to take a row out."""
    deleted = (
        f"INSERT INTO {table} ({table}, rowid, {column})"
        f" VALUES ('delete', {rowid_of('old')}, {tokens_of(function, 'old')})"
    )
    inserted = f"INSERT INTO {table} (rowid, {column}) VALUES ({rowid_of('new')}, {tokens_of(function, 'new')})"
    return {
        "hazard_text_insert": ("", inserted),
        "hazard_text_update": (deleted, inserted),
        "hazard_text_delete": (deleted, ""),
    }


def tokens_filled(table: str, column: str, function: str) -> str:
    """The tokens of every hazard already written, into `table` under their rowids in `hazard_text_rowid`."""
    return f"""INSERT INTO {table} (rowid, {column})
SELECT n.id, {tokens_of(function, "h")} FROM hazard AS h JOIN hazard_text_rowid AS n ON n.hazard_id = h.hazard_id"""


PAIRS_KEPT = tokens_kept("hazard_pairs", "pairs", "text_pairs")
FILLED = tokens_filled("hazard_pairs", "pairs", "text_pairs")


def trigger_name(statement: str) -> str:
    return statement.split()[2]


def keeping(trigger: str, kept: dict[str, tuple[str, str]]) -> str:
    """`trigger` with `kept`'s statements (`tokens_kept`) added first and last in its body."""
    first, last = kept[trigger_name(trigger)]
    body_start = trigger.index("BEGIN") + len("BEGIN")
    body_end = trigger.rindex("END")
    opening = f"\n{first};" if first else ""
    closing = f"{last};\n" if last else ""
    return f"{trigger[:body_start]}{opening}{trigger[body_start:body_end]}{closing}END"


# Each text's pairs, as substrings of two; a NULL or a single character gives none (GIN drops the repeated ones).
# PL/pgSQL: 11 us a hazard at national scale, where SQL's unnest and generate_series took 15-29. COST tells the
# planner it is dear (a LIKE of the four columns: 0.8 us), so it looks a pair up in the index rather than computing
# every hazard's.
def postgresql_function(name: str, size: int) -> str:
    """A PL/pgSQL function `name` giving the substrings of `size` characters of its texts, as a text array (named
    `pairs` inside, as this migration first wrote it for its own)."""
    return f"""CREATE FUNCTION {name}(VARIADIC texts text[]) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE COST 1000 AS $$
DECLARE
    t text;
    pairs text[] := '{{}}';
BEGIN
    FOREACH t IN ARRAY texts LOOP
        FOR i IN 1 .. coalesce(length(t), 0) - {size - 1} LOOP
            pairs := pairs || substr(t, i, {size});
        END LOOP;
    END LOOP;
    RETURN pairs;
END
$$"""


POSTGRESQL_FUNCTION = postgresql_function("text_pairs", 2)
# A copy of each hazard's searched texts, indexed by their pairs. The index lives on this narrow table, not on
# `hazard`: a hazard's row is written again at every step, and each new version of it would enter its 45 or so
# pairs in a GIN index again; the copy is written only when a text changes. Its count of a common pair reads a
# fifth of the pages (14.5 ms for 39,287 hazards at national scale, against 33 on `hazard`).
SEARCH_TABLE = f"""CREATE TABLE hazard_search (
    hazard_id VARCHAR PRIMARY KEY, {", ".join(f"{column} VARCHAR" for column in TEXTS)}
)"""
SEARCH_KEPT = f"""CREATE FUNCTION hazard_search_kept() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        DELETE FROM hazard_search WHERE hazard_id = OLD.hazard_id;
    ELSE
        INSERT INTO hazard_search ({LISTED}) VALUES ({", ".join(f"NEW.{column}" for column in SEARCHED)})
        ON CONFLICT (hazard_id) DO UPDATE SET {", ".join(f"{c} = EXCLUDED.{c}" for c in TEXTS)};
    END IF;
    RETURN NULL;
END
$$"""
_TEXT_CHANGED = " OR ".join(f"OLD.{column} IS DISTINCT FROM NEW.{column}" for column in TEXTS)
POSTGRESQL_TRIGGERS = {
    "hazard_search_insert": "AFTER INSERT ON hazard FOR EACH ROW",
    # The projection's upsert sets every column: only a text that changed is written again.
    "hazard_search_update": f"AFTER UPDATE OF {', '.join(TEXTS)} ON hazard FOR EACH ROW WHEN ({_TEXT_CHANGED})",
    "hazard_search_delete": "AFTER DELETE ON hazard FOR EACH ROW",
}
SEARCH_INDEX = "ix_hazard_search_pairs"


def triggers_0016() -> list[str]:
    return [statement for statement in _0016.SQLITE if statement.startswith("CREATE TRIGGER")]


# This migration's triggers: 0016's, keeping the pairs as well.
TRIGGERS = [keeping(trigger, PAIRS_KEPT) for trigger in triggers_0016()]


def replace_triggers(triggers: list[str]) -> None:
    """Each trigger dropped and created again as given (SQLite has no CREATE OR REPLACE TRIGGER)."""
    for trigger in triggers:
        op.execute(f"DROP TRIGGER {trigger_name(trigger)}")
        op.execute(trigger)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("CREATE VIRTUAL TABLE hazard_pairs USING fts5(pairs, content='', detail='none')")
        replace_triggers(TRIGGERS)
        op.execute(FILLED)
        return
    op.execute(POSTGRESQL_FUNCTION)
    op.execute(SEARCH_TABLE)
    op.execute(SEARCH_KEPT)
    for trigger, when in POSTGRESQL_TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {trigger} {when} EXECUTE FUNCTION hazard_search_kept()")
    op.execute(f"INSERT INTO hazard_search ({LISTED}) SELECT {LISTED} FROM hazard")
    op.execute(f"CREATE INDEX {SEARCH_INDEX} ON hazard_search USING gin (text_pairs({LISTED}))")
    # readmodel.search asks the planner how many hazards hold a pair: its statistics of the index, from now on
    # rather than from autovacuum's first pass.
    op.execute("ANALYZE hazard_search")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        replace_triggers(triggers_0016())
        op.execute("DROP TABLE hazard_pairs")
        return
    for trigger in POSTGRESQL_TRIGGERS:
        op.execute(f"DROP TRIGGER {trigger} ON hazard")
    op.execute("DROP FUNCTION hazard_search_kept()")
    op.execute("DROP TABLE hazard_search")
    op.execute("DROP FUNCTION text_pairs(text[])")
