"""The characters of a hazard's searched texts, and every two of them in a row: what migrations 0019 and 0018
index, so that a search of one character (氨, 罐) or of two (most Chinese words: 仓库, 燃气, 消防) is found without
reading every hazard.

A text of one or two characters holds no trigram, which is all migration 0016's indexes know. A column holds such a
text exactly when one of its characters or pairs is that text, so these answer the search itself, not only narrow
it. They follow each database's LIKE: SQLite's ignores the case of ASCII letters only, PostgreSQL's none.

SQLite keeps them in FTS5 tables, `hazard_chars` and `hazard_pairs`, written by triggers on `hazard` that call
`text_chars` and `text_pairs` (below): a trigger cannot run the recursive statement that would cut a text up. Every
connection that writes hazards registers them (`register`): readmodel.db's engines and the migrations'. PostgreSQL
computes them itself (PL/pgSQL functions of the same names), in expression indexes on `hazard_search`, a copy of the
searched columns.
"""

from collections.abc import Callable, Iterable
from typing import Any

PAIR = 2
# The searched columns, in the order the indexes on PostgreSQL pass them to `text_pairs` and `text_chars`
# (readmodel.search does too): a query matches an index's expression only when it passes them in the same order.
SEARCHED = ("hazard_id", "title", "enterprise_name", "location")


def ascii_folded(text: str) -> str:
    """`text` with ASCII capitals lowered, as SQLite's LIKE compares (other letters keep their case)."""
    return text.translate(_ASCII_LOWER)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def token(text: str) -> str:
    """A character or a pair as one FTS5 token: its code points in hex, six digits each. The tokenizer keeps letters
    and digits together, and would split or drop the text's own characters (a space, `-`, `%`)."""
    return "".join(f"{ord(character):06x}" for character in text)


def _tokens(texts: Iterable[str | None], size: int) -> str:
    """The distinct substrings of `size` characters of the texts (each on its own: none spans two columns), folded
    as SQLite's LIKE compares, as tokens."""
    grams: set[str] = set()
    for text in texts:
        if text:
            folded = ascii_folded(text)
            grams.update(folded[i : i + size] for i in range(len(folded) - size + 1))
    return " ".join(sorted(map(token, grams)))


def text_pairs(*texts: str | None) -> str:
    """The distinct pairs of the texts, as tokens for `hazard_pairs` (migration 0018)."""
    return _tokens(texts, PAIR)


def text_chars(*texts: str | None) -> str:
    """The distinct characters of the texts, as tokens for `hazard_chars` (migration 0019)."""
    return _tokens(texts, 1)


_FUNCTIONS: dict[str, Callable[..., str]] = {"text_pairs": text_pairs, "text_chars": text_chars}


def register(dbapi_connection: Any, _record: Any = None) -> None:
    """Make `text_pairs` and `text_chars` callable from SQLite's SQL on this connection (a `connect` event's
    listener)."""
    for name, function in _FUNCTIONS.items():
        dbapi_connection.create_function(name, len(SEARCHED), function, deterministic=True)
