"""Every two characters in a row of a hazard's searched texts: what migration 0018 indexes, so that a search of two
characters (most Chinese words: 仓库, 燃气, 消防) is found without reading every hazard.

A text of two characters holds no trigram, which is all migration 0016's indexes know. A column holds such a text
exactly when one of its pairs is that text, so the pairs answer the search itself, not only narrow it. The pairs
follow each database's LIKE: SQLite's ignores the case of ASCII letters only, PostgreSQL's none.

SQLite keeps them in an FTS5 table, `hazard_pairs`, written by triggers on `hazard` that call `text_pairs` (below):
a trigger cannot run the recursive statement that would cut a text into pairs. Every connection that writes
hazards registers it (`register`): readmodel.db's engines and the migrations'. PostgreSQL computes them itself
(migration 0018's PL/pgSQL function of the same name), in an expression index on `hazard_search`, a copy of the
searched columns.
"""

from typing import Any

PAIR = 2
# The searched columns, in the order migration 0018's index on PostgreSQL passes them to `text_pairs`
# (readmodel.search does too): a query matches the index's expression only when it passes them in the same order.
SEARCHED = ("hazard_id", "title", "enterprise_name", "location")


def ascii_folded(text: str) -> str:
    """`text` with ASCII capitals lowered, as SQLite's LIKE compares (other letters keep their case)."""
    return text.translate(_ASCII_LOWER)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def pair_token(pair: str) -> str:
    """A pair as one FTS5 token: its two code points in hex, six digits each. The tokenizer keeps letters and digits
    together, and would split or drop the pair's own characters (a space, `-`, `%`)."""
    return "".join(f"{ord(character):06x}" for character in pair)


def text_pairs(*texts: str | None) -> str:
    """The distinct pairs of the texts (each on its own: none spans two columns), as tokens for `hazard_pairs`."""
    pairs: set[str] = set()
    for text in texts:
        if text:
            folded = ascii_folded(text)
            pairs.update(folded[i : i + PAIR] for i in range(len(folded) - 1))
    return " ".join(sorted(map(pair_token, pairs)))


def register(dbapi_connection: Any, _record: Any = None) -> None:
    """Make `text_pairs` callable from SQLite's SQL on this connection (a `connect` event's listener)."""
    dbapi_connection.create_function("text_pairs", len(SEARCHED), text_pairs, deterministic=True)
