"""Scenarios 5 and 6 (issue 7, items 5 and 6): bulk intake of an existing ledger, then the worker's memory with
every hazard of it open.

Intake: a realistic 督改台账 of N hazards (the demo district's generator, imports.demo) is imported by the
product's own import path (imports.runner.ImportRunner, as `cli.py import` runs it) into running workflows on
the real hazard worker. Baseline in the same run, on the same dev server, at the same concurrency as the
importer: bare workflows opened by update-with-start with one trivial local activity (bench.floor), which is
the least a start that waits for its workflow to be open can cost.

Memory: once every hazard is open, the hazard worker's RSS (its workflow cache is bounded, max_cached_workflows)
and the read model's bytes per hazard.

    python -m bench.intake [--hazards 10000]
"""

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil
from sqlalchemy import Engine, func
from sqlmodel import Session, select
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy

from bench.common import client_for, cpu_seconds, dev_server, record, table
from bench.floor import FloorStep, FloorWorkflow
from bench.lifecycle import start_workers
from contracts.clock import CHINA_TZ
from contracts.enums import Role
from contracts.hazard import Actor
from imports import demo, jobs
from imports.command import import_ledger
from imports.district import DISTRICTS
from imports.runner import CONCURRENCY
from readmodel.db import make_engine
from readmodel.models import Hazard
from settings import Settings
from workcalendar import WorkCalendar

MB = 1024 * 1024


@dataclass
class PhaseClock:
    """When the import entered its current phase (validating, importing), and when progress was last shown."""

    status: str
    at: float
    shown: float


async def bare_starts(client: Client, task_queue: str, count: int, concurrency: int) -> float:
    """Seconds to open `count` floor workflows, `concurrency` at a time, each waiting until it is open."""
    remaining = iter(range(count))

    async def starter() -> None:
        for _ in remaining:
            opening = WithStartWorkflowOperation(
                FloorWorkflow.run,
                1,
                id=f"bench-bare-{uuid.uuid4().hex[:12]}",
                task_queue=task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            )
            await client.execute_update_with_start_workflow(
                FloorWorkflow.step, FloorStep(n=0), start_workflow_operation=opening
            )

    started = time.perf_counter()
    async with asyncio.TaskGroup() as tasks:
        for _ in range(concurrency):
            tasks.create_task(starter())
    return time.perf_counter() - started


def footprint(engine: Engine) -> tuple[int, int]:
    """Hazard rows in the SQLite read model and its size in bytes, the write-ahead log checkpointed into it."""
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        pages = int(conn.exec_driver_sql("PRAGMA page_count").scalar_one())
        page_size = int(conn.exec_driver_sql("PRAGMA page_size").scalar_one())
    with Session(engine) as session:
        rows = int(session.exec(select(func.count()).select_from(Hazard)).one())
    return rows, pages * page_size


def write_ledger(directory: Path, hazards: int, settings: Settings) -> Path:
    district = DISTRICTS[settings.district_code]
    now = datetime.now(CHINA_TZ)
    ledger = demo.generate(
        hazards=hazards,
        seed=7,
        now=now,
        calendar=WorkCalendar(),
        district=district,
        doc_prefix=settings.doc_number_prefix,
    )
    path = directory / "ledger.xlsx"
    with path.open("wb") as out:
        demo.write(out, ledger, district_name=district.name, today=now.date())
    return path


async def main(hazards: int, baseline: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-intake-") as tmp, ExitStack() as stack:
        directory = Path(tmp)
        async with dev_server(directory) as server:
            workers = start_workers(stack, server, directory)
            client = await client_for(server.address)
            settings = Settings(database_url=workers.database_url)
            engine = make_engine(workers.database_url)
            worker = psutil.Process(workers.hazard_pid)
            rss_idle = worker.memory_info().rss

            bare_pids = {"server": server.pid, "worker": workers.floor_pid, "client": os.getpid()}
            bare_before = {name: cpu_seconds(pid) for name, pid in bare_pids.items()}
            bare_seconds = await bare_starts(client, workers.floor_queue, baseline, CONCURRENCY)
            bare_cpu = {name: cpu_seconds(pid) - bare_before[name] for name, pid in bare_pids.items()}

            path = write_ledger(directory, hazards, settings)
            actor = Actor(id="bench-import", name="基准测试导入", role=Role.COMMITTEE_OFFICE, organisation="安委办")
            phases: dict[str, float] = {}
            clock = PhaseClock(status="", at=time.perf_counter(), shown=0.0)
            rss_peak = rss_idle

            def listener(progress: jobs.Progress) -> None:
                nonlocal rss_peak
                now = time.perf_counter()
                if progress.status != clock.status:
                    phases[clock.status] = now - clock.at
                    clock.status, clock.at = progress.status, now
                if progress.status == "importing" and now - clock.shown > 10:
                    rss_peak = max(rss_peak, worker.memory_info().rss)
                    print(f"  importing: {progress.imported}/{progress.valid_rows}", file=sys.stderr, flush=True)
                    clock.shown = now

            pids = {"server": server.pid, "worker": workers.hazard_pid, "client": os.getpid()}
            cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
            progress = await import_ledger(
                settings,
                engine,
                client,
                path,
                actor=actor,
                only_valid=True,
                task_queue=workers.hazard_queue,
                listener=listener,
            )
            phases[progress.status] = time.perf_counter() - clock.at
            cpu = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in pids.items()}
            rss_open = worker.memory_info().rss
            rss_peak = max(rss_peak, rss_open)
            rows, read_model_bytes = footprint(engine)
            engine.dispose()

    import_seconds = phases.get("importing", 0.0)
    imported_per_s = progress.imported / import_seconds if import_seconds else 0.0
    bare_per_s = baseline / bare_seconds
    figures: dict[str, Any] = {
        "rows": progress.total_rows,
        "valid": progress.valid_rows,
        "imported": progress.imported,
        "failed": progress.failed,
        "status": progress.status,
        "validate_s": round(phases.get("validating", 0.0), 1),
        "import_s": round(import_seconds, 1),
        "imported_per_s": round(imported_per_s, 2),
        "bare_opened_per_s": round(bare_per_s, 2),
        "bare_over_import": round(bare_per_s / imported_per_s, 2) if imported_per_s else None,
        "server_cpu_ms_per_hazard": round(cpu["server"] * 1000 / max(progress.imported, 1), 1),
        "server_cpu_ms_per_bare": round(bare_cpu["server"] * 1000 / baseline, 1),
        "worker_cpu_ms_per_hazard": round(cpu["worker"] * 1000 / max(progress.imported, 1), 1),
        "worker_cpu_ms_per_bare": round(bare_cpu["worker"] * 1000 / baseline, 1),
        "client_cpu_ms_per_hazard": round(cpu["client"] * 1000 / max(progress.imported, 1), 1),
        "client_cpu_ms_per_bare": round(bare_cpu["client"] * 1000 / baseline, 1),
        "read_model_rows": rows,
        "read_model_bytes_per_hazard": round(read_model_bytes / max(rows, 1)),
        "worker_rss_idle_mb": round(rss_idle / MB, 1),
        "worker_rss_open_mb": round(rss_open / MB, 1),
        "worker_rss_peak_mb": round(rss_peak / MB, 1),
    }
    table("intake: a ledger imported into running workflows, beside bare starts", [figures])
    record("intake", {"hazards": hazards, "baseline": baseline, "concurrency": CONCURRENCY}, figures)


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hazards", type=int, default=10_000, help="rows of the ledger")
    parser.add_argument("--baseline", type=int, default=1_000, help="bare workflows opened as the baseline")
    args = parser.parse_args()
    asyncio.run(main(args.hazards, args.baseline))


if __name__ == "__main__":
    cli()
