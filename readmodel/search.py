"""The list's search: the hazards holding a text, as typed, in their title, enterprise, id or location.

A substring, which no ordinary index answers: `LIKE '%…%'` reads every hazard in the jurisdiction. Migration 0016
indexes the four columns by their trigrams. PostgreSQL's planner uses its pg_trgm indexes for the LIKE by itself,
weighing them by its statistics. SQLite keeps none, and cannot use its FTS5 table for a LIKE on `hazard`: the list
asks it (`looks_up`), and looks the text up there only when few hazards hold it.
"""

from sqlalchemy import ColumnElement, and_, column, func, literal, or_, table
from sqlmodel import Session, col, select

from readmodel.models import Hazard

TEXT_COLUMNS = (Hazard.title, Hazard.enterprise_name, Hazard.hazard_id, Hazard.location)
# Under this many hazards holding the text, they are looked up (a few ms per thousand); a text more hazards hold is
# found sooner by reading the list newest first, or the table once: looking up all 200,000 hazards that hold a word
# took 450 ms, reading the table 60-80.
FEW_HOLDING = 5_000
# The index holds each three characters in a row: a shorter text has none to look up.
TRIGRAM = 3

# The FTS5 table (migration 0016); its hidden column of its own name takes MATCH.
_INDEX = table("hazard_text", column("hazard_id"), column("hazard_text"))


def phrase(text: str) -> str:
    """`text` as one FTS5 phrase: the index then finds it as a substring (each of its trigrams, in a row)."""
    return '"' + text.replace('"', '""') + '"'


def looks_up(session: Session, text: str) -> bool:
    """Whether `holds` should find `text` by the index: on SQLite, a text with a trigram that fewer than FEW_HOLDING
    hazards hold (counted from the index alone, up to FEW_HOLDING)."""
    if session.get_bind().dialect.name != "sqlite" or len(text) < TRIGRAM:
        return False
    holding = select(literal(1)).select_from(_INDEX).where(_INDEX.c.hazard_text.match(phrase(text))).limit(FEW_HOLDING)
    return session.exec(select(func.count()).select_from(holding.subquery())).one() < FEW_HOLDING


def holds(text: str, *, looked_up: bool = False) -> ColumnElement[bool]:
    """The hazards holding `text` in any of the four columns. `looked_up` (see `looks_up`): among those the index
    finds, which hold all of its trigrams in a row in any case of letters; the LIKE keeps the search's own rule."""
    found = or_(*(col(field).contains(text, autoescape=True) for field in TEXT_COLUMNS))
    if not looked_up:
        return found
    indexed = select(_INDEX.c.hazard_id).where(_INDEX.c.hazard_text.match(phrase(text)))
    return and_(col(Hazard.hazard_id).in_(indexed), found)
