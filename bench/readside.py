"""Scenario 3 (issue 7, item 3): the read side at national scale. 200,000 hazards and their events are
bulk-loaded (bench.dataset) into a SQLite file and into a throwaway PostgreSQL (tests/postgres.py), then each
query is timed as the API and the board call it, and beside it the very SQL it sent (captured from the engine)
run on the bare DB-API connection: the 'raw SQL' baseline, so the ratio is what our Python layer adds. Then every
combination of the list's few-valued filters (stage, overdue, colour, 挂牌督办, source), for the committee and a
department, on the first and the eleventh page: how many take over the list's target, and the slowest.

    python -m bench.readside [--hazards 200000] [--backends sqlite,postgresql]
"""

import argparse
import contextlib
import itertools
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, text
from sqlmodel import Session

from bench.common import p50, percentile, record, table
from bench.dataset import load
from contracts.clock import CHINA_TZ
from contracts.deadlines import Rag
from contracts.enums import Industry, Role, Source, Stage
from contracts.hazard import Actor
from infra.heap import freeze_startup_heap
from readmodel.db import make_engine
from readmodel.migrate import upgrade
from readmodel.models import Hazard
from readmodel.queries import HazardFilter, list_hazards, scope_condition
from readmodel.statistics import GroupBy, StatisticsQuery, hazard_statistics
from web.queries import open_matrix

COMMITTEE = Actor(id="co-bench", name="基准", role=Role.COMMITTEE_OFFICE, organisation="安委办")
DEPARTMENT = Actor(
    id="dept-bench", name="基准", role=Role.DEPARTMENT, organisation="部门03", industries=[Industry.HAZARDOUS_CHEMICALS]
)
TARGETS_MS = {"list": 50.0, "board": 300.0, "statistics": 300.0}


def captured(engine: Engine, run: Callable[[], object]) -> list[tuple[str, Any]]:
    """The SQL statements (with their parameters) `run` sends."""
    statements: list[tuple[str, Any]] = []

    def listen(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", listen)
    try:
        run()
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    return statements


def raw(engine: Engine, statements: list[tuple[str, Any]]) -> Callable[[], None]:
    def run() -> None:
        connection = engine.raw_connection()
        try:
            cursor = connection.cursor()
            for statement, parameters in statements:
                cursor.execute(statement, parameters)
                cursor.fetchall()
            cursor.close()
        finally:
            connection.close()

    return run


def timed(run: Callable[[], object], repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        samples.append(time.perf_counter() - started)
    return samples


def measure(engine: Engine, name: str, kind: str, run: Callable[[], object], repeat: int) -> dict[str, Any]:
    run()  # warm: the page cache and SQLAlchemy's statement cache, for both sides alike
    statements = captured(engine, run)
    ours = timed(run, repeat)
    bare = timed(raw(engine, statements), repeat)
    ours_p99, bare_p99 = percentile(ours, 99), percentile(bare, 99)
    return {
        "query": name,
        "kind": kind,
        "repeat": repeat,
        "p50_ms": round(p50(ours), 1),
        "p99_ms": round(ours_p99, 1),
        "raw_p50_ms": round(p50(bare), 1),
        "raw_p99_ms": round(bare_p99, 1),
        "ratio_p50": round(p50(ours) / p50(bare), 2),
        "target_ms": TARGETS_MS[kind],
        "met": ours_p99 <= TARGETS_MS[kind],
    }


def session_call(engine: Engine, call: Callable[[Session], object]) -> Callable[[], object]:
    """`call` in a session of its own, as the API's and the board's requests run."""

    def run() -> object:
        with Session(engine) as session:
            return call(session)

    return run


def queries(engine: Engine, now: datetime) -> dict[str, tuple[str, Callable[[], object], int]]:
    def listing(actor: Actor, where: HazardFilter, offset: int = 0) -> Callable[[], object]:
        return session_call(engine, page(actor, where, now, offset))

    def statistics(actor: Actor, group_by: GroupBy) -> Callable[[], object]:
        query = StatisticsQuery(group_by=group_by, as_of=now - timedelta(days=90), cutoff_year=now.year)
        return session_call(engine, lambda s: hazard_statistics(session=s, scope=scope_condition(actor), query=query))

    return {
        "list: committee, street+stage": (
            "list",
            listing(COMMITTEE, HazardFilter(street="街道0042", stage=Stage.RECTIFY)),
            200,
        ),
        "list: committee, no filter": ("list", listing(COMMITTEE, HazardFilter()), 50),
        "list: committee, overdue": ("list", listing(COMMITTEE, HazardFilter(overdue=True)), 50),
        "list: department scope, stage": ("list", listing(DEPARTMENT, HazardFilter(stage=Stage.REVIEW)), 50),
        "list: department scope, overdue in a stage": (
            "list",
            listing(DEPARTMENT, HazardFilter(stage=Stage.RECTIFY, overdue=True)),
            50,
        ),
        "list: department scope, listed, page 11": ("list", listing(DEPARTMENT, HazardFilter(listed=True), 500), 50),
        # Finding-date windows: the oldest (a window that ends), and a department's last month, not overdue.
        "list: committee, found before a date, page 11": (
            "list",
            listing(COMMITTEE, HazardFilter(found_to=now.date() - timedelta(days=300)), 500),
            50,
        ),
        "list: department scope, found this month, not overdue": (
            "list",
            listing(DEPARTMENT, HazardFilter(found_from=now.date() - timedelta(days=30), overdue=False)),
            50,
        ),
        # The search: an enterprise's 4 hazards (its name), a word no hazard holds, a word about 39,000 hazards hold, a
        # character about 50,000 hold.
        "list: committee, search an enterprise": ("list", listing(COMMITTEE, HazardFilter(text="企业04217")), 50),
        "list: committee, search a word none holds": ("list", listing(COMMITTEE, HazardFilter(text="未按规定")), 50),
        "list: committee, search a common word": ("list", listing(COMMITTEE, HazardFilter(text="仓库")), 50),
        "list: committee, search one character": ("list", listing(COMMITTEE, HazardFilter(text="仓")), 50),
        "list: department scope, search an enterprise": (
            "list",
            listing(DEPARTMENT, HazardFilter(text="企业00003")),
            50,
        ),
        # The common word with another filter, and in a jurisdiction: the hazards the filter leaves are each tested.
        "list: committee, search a common word, overdue": (
            "list",
            listing(COMMITTEE, HazardFilter(text="仓库", overdue=True)),
            50,
        ),
        "list: committee, search a common word in a stage": (
            "list",
            listing(COMMITTEE, HazardFilter(text="仓库", stage=Stage.RECTIFY)),
            50,
        ),
        "list: department scope, search a common word": ("list", listing(DEPARTMENT, HazardFilter(text="仓库")), 50),
        # A phrase of three characters about 39,000 hazards hold (their trigrams), alone and with another filter.
        "list: committee, search a common phrase": ("list", listing(COMMITTEE, HazardFilter(text="储罐区")), 50),
        "list: committee, search a common phrase, overdue": (
            "list",
            listing(COMMITTEE, HazardFilter(text="储罐区", overdue=True)),
            50,
        ),
        "list: department scope, search a common word, page 11": (
            "list",
            listing(DEPARTMENT, HazardFilter(text="仓库"), 500),
            50,
        ),
        "board: street x industry": (
            "board",
            session_call(
                engine,
                lambda s: open_matrix(session=s, actor=COMMITTEE, row=Hazard.street, column=Hazard.industry, now=now),
            ),
            10,
        ),
        "board: department": (
            "board",
            session_call(
                engine, lambda s: open_matrix(session=s, actor=COMMITTEE, row=Hazard.department, column=None, now=now)
            ),
            10,
        ),
        "statistics: national, by industry, as of -90d": ("statistics", statistics(COMMITTEE, GroupBy.INDUSTRY), 3),
        # By street too: 2,000 groups, where by industry has 14, so the answer's own building shows.
        "statistics: national, by street, as of -90d": ("statistics", statistics(COMMITTEE, GroupBy.STREET), 3),
        "statistics: one department's scope": (
            "statistics",
            statistics(DEPARTMENT, GroupBy.INDUSTRY),
            3,
        ),
    }


def page(actor: Actor, where: HazardFilter, now: datetime, offset: int) -> Callable[[Session], object]:
    """A page as GET /hazards asks for it, with its default page size."""
    return lambda s: list_hazards(session=s, actor=actor, where=where, now=now, offset=offset, limit=50)


# The list's filters with a few values each, which no index narrows much on its own.
FILTER_VALUES: dict[str, tuple[Any, ...]] = {
    "stage": (None, *Stage),
    "overdue": (None, True, False),
    "rag": (None, Rag.RED),
    "listed": (None, True),
    "source": (None, Source.SELF_INSPECTION),
}


def filter_combinations(engine: Engine, now: datetime, repeat: int = 3) -> dict[str, Any]:
    """Each combination of the few-valued filters (at most one of colour, listing and source beside the stage and
    overdue), for the committee and the department, on pages 1 and 11: each timed `repeat` times, its median kept."""
    stages, overdue = FILTER_VALUES["stage"], FILTER_VALUES["overdue"]
    others = [{}, *({name: FILTER_VALUES[name][1]} for name in ("rag", "listed", "source"))]
    medians: list[tuple[float, str]] = []
    for actor, stage, due, other, offset in itertools.product(
        (COMMITTEE, DEPARTMENT), stages, overdue, others, (0, 500)
    ):
        run = session_call(engine, page(actor, HazardFilter(stage=stage, overdue=due, **other), now, offset))
        run()  # warm, as `measure` does
        samples = timed(run, repeat)
        shown = ", ".join(f"{k}={v}" for k, v in (("stage", stage), ("overdue", due), *other.items()) if v is not None)
        medians.append((p50(samples), f"{actor.id}: {shown or 'no filter'}, page {offset // 50 + 1}"))
    medians.sort(reverse=True)
    target = TARGETS_MS["list"]
    return {
        "combinations": len(medians),
        "over_target": sum(ms > target for ms, _ in medians),
        "target_ms": target,
        "p50_of_medians_ms": round(p50([ms / 1000 for ms, _ in medians]), 1),
        "slowest": [{"ms": round(ms, 1), "page": name} for ms, name in medians[:5]],
        "met": medians[0][0] <= target,
    }


def export(url: str, engine: Engine, directory: Path) -> dict[str, Any]:
    """The ledger export in a child process (its own peak RSS), and the same rows fetched raw here."""
    out = directory / "ledger.xlsx"
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "bench.export_child", url, "部门03", str(out)],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parent.parent,
    )
    figures: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    figures["process_seconds"] = round(time.perf_counter() - started, 2)
    figures["xlsx_mb"] = round(out.stat().st_size / 2**20, 1)
    with engine.connect() as conn:
        started = time.perf_counter()
        rows = conn.execute(
            text("SELECT * FROM hazard WHERE department = :d ORDER BY found_at, hazard_id"), {"d": "部门03"}
        ).fetchall()
        figures["raw_fetch_seconds"] = round(time.perf_counter() - started, 2)
        figures["raw_rows"] = len(rows)
    figures["met"] = figures["peak_rss_mb"] < 200
    return figures


def footprint(engine: Engine, url: str) -> int:
    """The read model's size on disk (tables and indexes, events included)."""
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        return Path(url.removeprefix("sqlite:///")).stat().st_size
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one())


@contextlib.contextmanager
def database(backend: str, directory: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{directory / 'readmodel.db'}"
        return
    from tests.postgres import postgres_server

    with postgres_server() as server:
        yield server.create_database("bench")


def run_backend(backend: str, count: int, directory: Path) -> dict[str, Any]:
    with database(backend, directory) as url:
        upgrade(url)
        engine = make_engine(url)
        try:
            now = datetime.now(CHINA_TZ)
            loaded = load(engine, count, now=now)
            if backend == "postgresql":
                # What autovacuum would have done by the time a year of hazards is in: since PostgreSQL 13 inserts
                # alone trigger it. The vacuum sets the visibility map, without which no scan is index-only (a
                # count of overdue hazards then reads the whole table).
                with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                    conn.execute(text("VACUUM ANALYZE"))
            loaded["bytes_per_hazard"] = round(footprint(engine, url) / count)
            print(f"{backend}: loaded {loaded}", flush=True)
            # As in the API's process (api.main): otherwise a full collection lands now and then in some query's
            # samples, 100 ms or more on this heap.
            freeze_startup_heap()
            results = [
                measure(engine, name, kind, run, repeat) for name, (kind, run, repeat) in queries(engine, now).items()
            ]
            combined = filter_combinations(engine, now)
            exported = export(url, engine, directory)
        finally:
            engine.dispose()
    table(f"readside on {backend}: {count} hazards, {loaded['events']} events", results)
    slowest = combined["slowest"]
    table(
        f"list pages on {backend}, every combination of the few-valued filters (median of 3 each)",
        [{k: v for k, v in combined.items() if k != "slowest"}],
    )
    table(f"the slowest of them on {backend}", slowest)
    table(f"ledger export on {backend} (target peak RSS < 200 MB)", [exported])
    return {"loaded": loaded, "queries": results, "filter_combinations": combined, "export": exported}


def main(count: int, backends: list[str]) -> None:
    for backend in backends:
        with tempfile.TemporaryDirectory(prefix=f"bench-readside-{backend}-") as tmp:
            figures = run_backend(backend, count, Path(tmp))
        record("readside", {"hazards": count, "backend": backend}, figures)


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hazards", type=int, default=200_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    main(args.hazards, args.backends.split(","))


if __name__ == "__main__":
    cli()
