"""The list's search: the hazards holding a text, as typed, in their title, enterprise, id or location.

A substring, which no ordinary index answers: `LIKE '%…%'` reads every hazard in the jurisdiction. Migration 0016
indexes the four columns by their trigrams, 0018 by their pairs of characters, for a text of two, and 0019 by their
characters, for a text of one (readmodel.text_grams). PostgreSQL's planner uses its pg_trgm indexes for the LIKE by
itself, weighing them by its statistics. Neither database can use an index of characters or pairs for a LIKE, nor
SQLite its FTS5 tables: the list asks for the hazards an index finds (`look_up`) and looks the text up there only
when few hazards hold it. Where the index answers exactly (`_exact`: a character, a pair, and on SQLite a longer
text with no letter of either case), a search alone over every hazard is counted from it (`count_held`), and on
SQLite a text many hazards hold, searched with other filters, is tested by the hazard's number in it, which the list's
ways-in indexes hold (migration 0020).
"""

import unicodedata
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, Text, and_, cast, column, func, literal, literal_column, or_, table
from sqlalchemy.dialects import postgresql
from sqlmodel import Session, col, select

from readmodel.models import Hazard
from readmodel.text_grams import PAIR, SEARCHED, ascii_folded, token

TEXT_COLUMNS = (Hazard.title, Hazard.enterprise_name, Hazard.hazard_id, Hazard.location)
# Under this many hazards holding the text, they are looked up (a few ms per thousand); a text more hazards hold is
# found sooner by reading the list newest first, or the table once: looking up all 200,000 hazards that hold a word
# took 450 ms, reading the table 60-80.
FEW_HOLDING = 5_000

# SQLite: the trigrams' FTS5 table (migration 0016), whose hidden column of its own name takes MATCH; by the length
# of the text, the characters' (0019) and the pairs' (0018), under the rowids of `hazard_text_rowid`.
_TRIGRAMS = table("hazard_text", column("rowid"), column("hazard_id"), column("hazard_text"))
_GRAMS = {
    length: table(name, column("rowid"), column(name)) for length, name in ((1, "hazard_chars"), (PAIR, "hazard_pairs"))
}
_ROWIDS = table("hazard_text_rowid", column("id"), column("hazard_id"))
# SQLite: the hazard's number in `hazard_text_rowid`, copied onto its row (migration 0020); outside the model, since
# PostgreSQL has no such column.
_TEXT_ROWID: ColumnElement[int] = literal_column(f"{Hazard.__tablename__}.text_rowid")
# PostgreSQL: the searched columns' copy, whose pairs 0018 indexes (`text_pairs`) and characters 0019 (`text_chars`).
_SEARCH = table("hazard_search", *(column(name) for name in SEARCHED))


def phrase(text: str) -> str:
    """`text` as one FTS5 phrase: the index then finds it as a substring (each of its trigrams, in a row)."""
    return '"' + text.replace('"', '""') + '"'


def _gram_matched(text: str) -> ColumnElement[bool]:
    """SQLite: the rows of `hazard_chars` or `hazard_pairs` holding `text`, a character or a pair (ASCII letters in
    either case, as its LIKE)."""
    grams = _GRAMS[len(text)]
    return grams.c[grams.name].match(phrase(token(ascii_folded(text))))


def _trigrams_matched(text: str) -> ColumnElement[bool]:
    """SQLite: the rows of `hazard_text` holding all of `text`'s trigrams in a row."""
    return _TRIGRAMS.c.hazard_text.match(phrase(text))


def _gram_held(text: str) -> ColumnElement[bool]:
    """PostgreSQL: the rows of `hazard_search` holding `text`, a character or a pair, as typed (its LIKE's case)."""
    function = func.text_chars if len(text) == 1 else func.text_pairs
    grams = function(*(_SEARCH.c[name] for name in SEARCHED))
    # text[], the function's type: psycopg would send the text as varchar, for which `@>` has no operator.
    return grams.op("@>")(cast(postgresql.array([literal(text)]), postgresql.ARRAY(Text)))


def _index_rows(dialect: str, text: str) -> Select[tuple[str]] | None:
    """The rows an index finds `text` by, if one does: the text itself, a character or a pair, or on SQLite all its
    trigrams in a row."""
    if not text:
        return None
    if dialect == "sqlite":
        if len(text) <= PAIR:
            return select(_GRAMS[len(text)].c.rowid).where(_gram_matched(text))
        return select(_TRIGRAMS.c.rowid).where(_trigrams_matched(text))
    if dialect == "postgresql" and len(text) <= PAIR:
        return select(_SEARCH.c.hazard_id).where(_gram_held(text))
    return None


def _ids(dialect: str, text: str, rows: Select[tuple[str]]) -> Select[tuple[str]]:
    """The ids of the hazards at those rows: SQLite's characters and pairs are kept under the hazard's number, not its
    id."""
    if dialect != "sqlite":
        return rows
    if len(text) <= PAIR:
        return select(_ROWIDS.c.hazard_id).where(_ROWIDS.c.id.in_(rows))
    return select(_TRIGRAMS.c.hazard_id).where(_trigrams_matched(text))


@dataclass(frozen=True)
class Lookup:
    """What an index tells the list of the hazards holding a text (`look_up`); neither: the LIKE of every row the
    other filters leave."""

    # Fewer than FEW_HOLDING hold it: their ids, which the list looks up.
    ids: Select[tuple[str]] | None = None
    # SQLite, a text more hold that its index answers exactly (`_exact`): the index's rows, which the hazards'
    # `text_rowid` are tested against in the list's ways-in indexes (migration 0020). At national scale, the
    # committee's overdue hazards holding 仓库: 52 ms a page, where reading each of the 81,799 overdue hazards' rows
    # took 220.
    rows: Select[tuple[str]] | None = None


# A search no index tells of.
NOT_LOOKED_UP = Lookup()


def look_up(session: Session, text: str, *, held: int | None = None) -> Lookup:
    """How the list finds the hazards holding `text` (`Lookup`). `held`: how many hold it, when the list has counted
    them from the index already (`count_held`): then only the page tests the text, on the rows it passes newest first
    (a character 50,001 of 200,000 hazards hold: the page in 5.6 ms, where testing it by the index's rows took 12.1)."""
    dialect = session.get_bind().dialect.name
    rows = _index_rows(dialect, text)
    if rows is None:
        return NOT_LOOKED_UP
    holding = _holding(session, rows) if held is None else held
    if holding < FEW_HOLDING:
        return Lookup(ids=_ids(dialect, text, rows))
    if dialect == "sqlite" and held is None and _exact(dialect, text):
        return Lookup(rows=rows)
    return NOT_LOOKED_UP


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


def _caseless(text: str) -> bool:
    """Whether `text` has no letter of either case (CJK, digits, punctuation): FTS5's trigram tokenizer folds the
    case of every letter, where SQLite's LIKE folds ASCII letters alone, so for such a text alone its trigrams in a row
    find exactly the hazards LIKE finds."""
    return all(ch.lower() == ch == ch.upper() and unicodedata.category(ch) not in ("Lu", "Ll", "Lt") for ch in text)


def _exact(dialect: str, text: str) -> bool:
    """Whether the index `_index_rows` names answers for `text` exactly, not only narrows it: a character or a pair
    (readmodel.text_grams), and on SQLite a longer text with no letter of either case (`_caseless`)."""
    return len(text) <= PAIR or (dialect == "sqlite" and _caseless(text))


def count_held(session: Session, text: str) -> int | None:
    """How many hazards hold `text`, counted from its index alone where that answers exactly (`_exact`); None
    elsewhere. At national scale on SQLite, 储罐区 (39,286 hazards): 1.3 ms, where LIKE read every row in 115."""
    dialect = session.get_bind().dialect.name
    rows = _index_rows(dialect, text)
    if rows is None or not _exact(dialect, text):
        return None
    return int(session.exec(select(func.count()).select_from(rows.subquery())).one())


def holds(text: str, lookup: Lookup = NOT_LOOKED_UP) -> ColumnElement[bool]:
    """The hazards holding `text` in any of the four columns. By `lookup.rows`: whose number the index of its
    character, pair or trigrams holds, which answers exactly (`_exact`). By `lookup.ids`: among those an index finds
    (by its character or pair, or all of its trigrams in a row in any case of letters), and the LIKE keeps the
    search's own rule."""
    if lookup.rows is not None:
        return _TEXT_ROWID.in_(lookup.rows)
    found = or_(*(col(field).contains(text, autoescape=True) for field in TEXT_COLUMNS))
    return found if lookup.ids is None else and_(col(Hazard.hazard_id).in_(lookup.ids), found)
