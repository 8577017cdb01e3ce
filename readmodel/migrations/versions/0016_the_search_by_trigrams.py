"""the list's search (title, enterprise, id, location) indexed by trigrams

A search is a substring, `LIKE '%…%'`, which no ordinary index answers: it read every hazard in the jurisdiction.
At national scale (200,000 hazards) on SQLite, the committee's search for an enterprise's 4 hazards took 513 ms (221
once sorted after one read of the table), for a word nothing holds 109 ms, a department's 50-54 ms.

SQLite: an FTS5 table with the trigram tokenizer, `hazard_text`, holds the four columns of each hazard, kept by
triggers on `hazard`. Its rowid is the hazard's number in `hazard_text_rowid`: the hazard table's own rowid is not
stable (a VACUUM may renumber a table without an INTEGER PRIMARY KEY). readmodel.search looks a text of three
characters or more up in it when few hazards hold it.
PostgreSQL: pg_trgm's GIN index on each column, which its planner uses for the LIKE by itself, by its statistics.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TEXT_COLUMNS = ["hazard_id", "title", "enterprise_name", "location"]
_LISTED = ", ".join(TEXT_COLUMNS)
_NEW = ", ".join(f"new.{column}" for column in TEXT_COLUMNS)

SQLITE = [
    "CREATE TABLE hazard_text_rowid (id INTEGER PRIMARY KEY, hazard_id VARCHAR(64) NOT NULL UNIQUE)",
    f"CREATE VIRTUAL TABLE hazard_text USING fts5({_LISTED}, tokenize='trigram')",
    f"""CREATE TRIGGER hazard_text_insert AFTER INSERT ON hazard BEGIN
        INSERT INTO hazard_text_rowid (hazard_id) VALUES (new.hazard_id);
        INSERT INTO hazard_text (rowid, {_LISTED}) VALUES (last_insert_rowid(), {_NEW});
    END""",
    # The projection's upsert sets every column: only a text that changed is written again.
    """CREATE TRIGGER hazard_text_update AFTER UPDATE OF title, enterprise_name, location ON hazard
    WHEN old.title IS NOT new.title OR old.enterprise_name IS NOT new.enterprise_name
        OR old.location IS NOT new.location
    BEGIN
        UPDATE hazard_text SET title = new.title, enterprise_name = new.enterprise_name, location = new.location
        WHERE rowid = (SELECT id FROM hazard_text_rowid WHERE hazard_id = new.hazard_id);
    END""",
    """CREATE TRIGGER hazard_text_delete AFTER DELETE ON hazard BEGIN
        DELETE FROM hazard_text WHERE rowid = (SELECT id FROM hazard_text_rowid WHERE hazard_id = old.hazard_id);
        DELETE FROM hazard_text_rowid WHERE hazard_id = old.hazard_id;
    END""",
    "INSERT INTO hazard_text_rowid (hazard_id) SELECT hazard_id FROM hazard",
    f"""INSERT INTO hazard_text (rowid, {_LISTED})
    SELECT n.id, {", ".join(f"h.{column}" for column in TEXT_COLUMNS)}
    FROM hazard AS h JOIN hazard_text_rowid AS n ON n.hazard_id = h.hazard_id""",
]


def trigram_index(column: str) -> str:
    return f"ix_hazard_{column}_trigrams"


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in SQLITE:
            op.execute(statement)
        return
    # A trusted extension (PostgreSQL 13 on): the database's owner may create it.
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for column in TEXT_COLUMNS:
        op.execute(f"CREATE INDEX {trigram_index(column)} ON hazard USING gin ({column} gin_trgm_ops)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("hazard_text_insert", "hazard_text_update", "hazard_text_delete"):
            op.execute(f"DROP TRIGGER {trigger}")
        op.execute("DROP TABLE hazard_text")
        op.execute("DROP TABLE hazard_text_rowid")
        return
    # The extension stays: other objects of the database may use it.
    for column in TEXT_COLUMNS:
        op.drop_index(trigram_index(column), table_name="hazard")
