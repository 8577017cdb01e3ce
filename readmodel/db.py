from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlmodel import create_engine

from readmodel import text_grams

# Connections one process may hold, kept open and opened under load: at least the API's 40 threads for sync
# endpoints (anyio's default) plus the audit appender's, so no thread waits for a connection while holding its
# own. SQLAlchemy's default of 5 + 10 made requests queue until they failed under 200 clients
# (tests/test_load.py). A PostgreSQL server needs max_connections for every process's pool (docker/compose.yaml).
POOL_SIZE = 10
POOL_OVERFLOW = 40
# SQLite's sorter threads per connection (PRAGMA threads; SQLite starts them only for a sort too big for one pass).
SORTER_THREADS = 4


def make_engine(database_url: str) -> Engine:
    if database_url.startswith("sqlite"):
        _ensure_sqlite_dir(database_url)
        engine = create_engine(
            database_url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=POOL_SIZE,
            max_overflow=POOL_OVERFLOW,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        # The triggers that keep the search's characters and pairs call them (readmodel.text_grams).
        event.listen(engine, "connect", text_grams.register)
        return engine
    return create_engine(
        database_url,
        # No JIT: PostgreSQL compiles a plan whose estimate passes jit_above_cost, and it estimates the statistics
        # statement's rung look-up as if it ran for every row. The compiling took 267 ms of 440, for a statement
        # that runs in under 200 ms; no query of the read model runs long enough to win it back.
        connect_args={"options": "-c jit=off"},
        pool_pre_ping=True,
        pool_size=POOL_SIZE,
        max_overflow=POOL_OVERFLOW,
    )


def _ensure_sqlite_dir(database_url: str) -> None:
    path = database_url.split("///", 1)[-1]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the API read while the worker's projection writes; busy_timeout waits out short locks
    # instead of failing the activity.
    # busy_timeout first, and WAL only when the file is not in it yet: switching the journal needs the lock, so a
    # new connection opened while another writer holds it would otherwise fail at once ("database is locked").
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=30000")
    if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
        cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # A large sort (statistics and boards group by sorting: SQLite has no hash aggregate) may use helper threads.
    # National statistics' statement at 200,000 hazards, interleaved with and without: 218 against 266 ms (p50).
    cursor.execute(f"PRAGMA threads={SORTER_THREADS}")
    cursor.close()
