"""The read model's SQLite connections: every one opened with the settings the service relies on (readmodel.db)."""

from pathlib import Path

from sqlalchemy import text

from readmodel.db import SORTER_THREADS, make_engine


def test_each_sqlite_connection_gets_the_service_pragmas(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/read.db")
    try:
        # Two connections at once: the pragmas are per connection, so the pool's second one must have them too.
        with engine.connect() as first, engine.connect() as second:
            for conn in (first, second):
                pragmas = {
                    name: conn.execute(text(f"PRAGMA {name}")).scalar()
                    for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout", "threads")
                }
                assert pragmas == {
                    "journal_mode": "wal",
                    "synchronous": 1,  # NORMAL
                    "foreign_keys": 1,
                    "busy_timeout": 30000,
                    "threads": SORTER_THREADS,
                }
    finally:
        engine.dispose()
