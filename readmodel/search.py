"""The list's search: the hazards holding a text, as typed, in their title, enterprise, id or location.

A substring, which no ordinary index answers: `LIKE '%…%'` reads every hazard in the jurisdiction. Migration 0016
indexes the four columns by their trigrams, and 0018 by their pairs of characters, for a text of two
(readmodel.text_pairs). PostgreSQL's planner uses its pg_trgm indexes for the LIKE by itself, weighing them by its
statistics. Neither database can use an index of pairs for a LIKE, nor SQLite its FTS5 tables: the list asks for
the hazards an index finds (`indexed_ids`) and looks the text up there only when few hazards hold it. A search
alone over every hazard is counted from the index of pairs (`count_held`).
"""

from sqlalchemy import ColumnElement, Select, Text, and_, cast, column, func, literal, or_, table
from sqlalchemy.dialects import postgresql
from sqlmodel import Session, col, select

from readmodel.models import Hazard
from readmodel.text_pairs import PAIR, SEARCHED, ascii_folded, pair_token

TEXT_COLUMNS = (Hazard.title, Hazard.enterprise_name, Hazard.hazard_id, Hazard.location)
# Under this many hazards holding the text, they are looked up (a few ms per thousand); a text more hazards hold is
# found sooner by reading the list newest first, or the table once: looking up all 200,000 hazards that hold a word
# took 450 ms, reading the table 60-80.
FEW_HOLDING = 5_000

# SQLite: the trigrams' FTS5 table (migration 0016), whose hidden column of its own name takes MATCH; the pairs'
# (0018), under the rowids of `hazard_text_rowid`.
_TRIGRAMS = table("hazard_text", column("rowid"), column("hazard_id"), column("hazard_text"))
_PAIRS = table("hazard_pairs", column("rowid"), column("hazard_pairs"))
_ROWIDS = table("hazard_text_rowid", column("id"), column("hazard_id"))
# PostgreSQL: the searched columns' copy, whose pairs 0018 indexes.
_SEARCH = table("hazard_search", *(column(name) for name in SEARCHED))


def phrase(text: str) -> str:
    """`text` as one FTS5 phrase: the index then finds it as a substring (each of its trigrams, in a row)."""
    return '"' + text.replace('"', '""') + '"'


def pair_matched(text: str) -> ColumnElement[bool]:
    """SQLite: the rows of `hazard_pairs` holding the pair `text` (ASCII letters in either case, as its LIKE)."""
    return _PAIRS.c.hazard_pairs.match(phrase(pair_token(ascii_folded(text))))


def _trigrams_matched(text: str) -> ColumnElement[bool]:
    """SQLite: the rows of `hazard_text` holding all of `text`'s trigrams in a row."""
    return _TRIGRAMS.c.hazard_text.match(phrase(text))


def _pair_held(text: str) -> ColumnElement[bool]:
    """PostgreSQL: the rows of `hazard_search` holding the pair `text`, as typed (its LIKE's case)."""
    pairs = func.text_pairs(*(_SEARCH.c[name] for name in SEARCHED))
    # text[], the function's type: psycopg would send the text as varchar, for which `@>` has no operator.
    return pairs.op("@>")(cast(postgresql.array([literal(text)]), postgresql.ARRAY(Text)))


def _index_rows(dialect: str, text: str) -> Select[tuple[str]] | None:
    """The rows an index finds `text` by, if one does: its pair, or on SQLite all its trigrams in a row."""
    if dialect == "sqlite" and len(text) >= PAIR:
        if len(text) == PAIR:
            return select(_PAIRS.c.rowid).where(pair_matched(text))
        return select(_TRIGRAMS.c.rowid).where(_trigrams_matched(text))
    if dialect == "postgresql" and len(text) == PAIR:
        return select(_SEARCH.c.hazard_id).where(_pair_held(text))
    return None


def _ids(dialect: str, text: str, rows: Select[tuple[str]]) -> Select[tuple[str]]:
    """The ids of the hazards at those rows: SQLite's pairs are kept under the hazard's number, not its id."""
    if dialect != "sqlite":
        return rows
    if len(text) == PAIR:
        return select(_ROWIDS.c.hazard_id).where(_ROWIDS.c.id.in_(rows))
    return select(_TRIGRAMS.c.hazard_id).where(_trigrams_matched(text))


def indexed_ids(session: Session, text: str, *, holding: int | None = None) -> Select[tuple[str]] | None:
    """The ids of the hazards an index finds for `text`, when fewer than FEW_HOLDING hazards hold it (`holding`, or
    as `_holding` tells); otherwise None, and `holds` reads the hazards."""
    dialect = session.get_bind().dialect.name
    rows = _index_rows(dialect, text)
    if rows is None:
        return None
    if holding is None:
        holding = _holding(session, rows)
    return _ids(dialect, text, rows) if holding < FEW_HOLDING else None


def _holding(session: Session, rows: Select[tuple[str]]) -> int:
    """About how many hazards an index finds: SQLite counts them in the index, up to FEW_HOLDING; PostgreSQL's
    planner estimates them from its statistics of the index, since counting them reads each one's row of
    `hazard_search` (12-17 ms for a word 39,287 of 200,000 hazards hold). A wrong estimate costs time, not results:
    either way finds the same hazards."""
    bind = session.get_bind()
    if bind.dialect.name != "postgresql":
        return int(session.exec(select(func.count()).select_from(rows.limit(FEW_HOLDING).subquery())).one())
    statement = rows.compile(dialect=bind.dialect)
    plan = session.connection().exec_driver_sql(f"EXPLAIN (FORMAT JSON) {statement}", statement.params).scalar_one()
    return int(plan[0]["Plan"]["Plan Rows"])


def count_held(session: Session, text: str) -> int | None:
    """How many hazards hold `text`, counted from the index of pairs alone (exact: see readmodel.text_pairs); None
    where no index of pairs answers (a text of another length)."""
    if len(text) != PAIR:
        return None
    rows = _index_rows(session.get_bind().dialect.name, text)
    if rows is None:
        return None
    return int(session.exec(select(func.count()).select_from(rows.subquery())).one())


def holds(text: str, *, indexed: Select[tuple[str]] | None = None) -> ColumnElement[bool]:
    """The hazards holding `text` in any of the four columns. `indexed` (`indexed_ids`): among those an index finds
    (by its pair, or all of its trigrams in a row in any case of letters); the LIKE keeps the search's own rule."""
    found = or_(*(col(field).contains(text, autoescape=True) for field in TEXT_COLUMNS))
    return found if indexed is None else and_(col(Hazard.hazard_id).in_(indexed), found)
