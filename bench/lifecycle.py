"""Scenario 1 (issue 7, item 1): hazards through the whole lifecycle on the real worker, beside the floor
(bench.floor) in the same run, at concurrency 1 and 50. Two floors: `floor` runs a local activity per update, as
the hazard's own activities are; `issue_floor` a task-queue activity per update, the floor as issue 7 measured it.

Processes: the dev server, the hazard worker and the floor worker each run in a process of their own; the
clients run here. CPU per hazard is each process's own CPU time over a phase divided by its hazards, so the
worker's figure holds no client work and the client's holds no worker work.

    python -m bench.lifecycle [--n1 15] [--n50 150]
"""

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy

from bench.common import DevServer, child, client_for, cpu_seconds, dev_server, p50, percentile, record, table
from bench.floor import FloorStep, FloorWorkflow
from contracts.deadlines import HazardPolicy
from contracts.enums import Industry
from contracts.hazard import WORKFLOW_VERSION, ActionResult, ReportHazardInput, workflow_id
from readmodel import admin_queries
from readmodel.db import make_engine
from tests.scenarios import PATHS
from workflows.hazard import HazardWorkflow

# 上报 then 整改方案, 临时管控, 整改完成, 审核通过 (销号): five round trips, as by the API.
PATH = PATHS["self_report_closed"]
UPDATES = 1 + len(PATH.steps)

Lifecycle = Callable[[list[float]], Awaitable[None]]


def policy_in_force(engine: Engine, industry: Industry) -> HazardPolicy:
    with Session(engine) as session:
        return admin_queries.current_policy(session=session).for_hazard(industry)


async def hazard_lifecycle(client: Client, engine: Engine, task_queue: str, latencies: list[float]) -> None:
    hazard_id = f"B-{uuid.uuid4().hex[:12]}"
    report = PATH.report()
    # As the API reports a hazard: with the policy in force, read from the read model for each report.
    policy = await asyncio.to_thread(policy_in_force, engine, report.industry)
    input = ReportHazardInput(
        hazard_id=hazard_id, actor=PATH.reporter, report=report, policy=policy, version=WORKFLOW_VERSION
    )
    opening = WithStartWorkflowOperation(
        HazardWorkflow.run,
        input,
        id=workflow_id(hazard_id),
        search_attributes=input.search_attributes(),
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    started = time.perf_counter()
    await client.execute_update_with_start_workflow(HazardWorkflow.opened, start_workflow_operation=opening)
    latencies.append(time.perf_counter() - started)
    handle = await opening.workflow_handle()
    for step in PATH.steps:
        started = time.perf_counter()
        await handle.execute_update(step.update, step.input(), result_type=ActionResult)
        latencies.append(time.perf_counter() - started)
    await handle.result()


async def floor_lifecycle(client: Client, task_queue: str, latencies: list[float], *, local: bool = True) -> None:
    opening = WithStartWorkflowOperation(
        FloorWorkflow.run,
        UPDATES - 1,
        id=f"bench-floor-{uuid.uuid4().hex[:12]}",
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    started = time.perf_counter()
    await client.execute_update_with_start_workflow(
        FloorWorkflow.step, FloorStep(n=0, local=local), start_workflow_operation=opening
    )
    latencies.append(time.perf_counter() - started)
    handle = await opening.workflow_handle()
    for n in range(1, UPDATES):
        started = time.perf_counter()
        await handle.execute_update(FloorWorkflow.step, FloorStep(n=n, last=n == UPDATES - 1, local=local))
        latencies.append(time.perf_counter() - started)
    await handle.result()


@dataclass
class Phase:
    kind: str
    concurrency: int
    hazards: int
    seconds: float
    latencies: list[float]
    cpu: dict[str, float]
    errors: int
    load_average: float
    extra: dict[str, Any] = field(default_factory=dict)

    def figures(self) -> dict[str, Any]:
        per = {name: round(seconds * 1000 / self.hazards, 1) for name, seconds in self.cpu.items()}
        return {
            "kind": self.kind,
            "concurrency": self.concurrency,
            "hazards": self.hazards,
            "errors": self.errors,
            "hazards_per_s": round(self.hazards / self.seconds, 3),
            "update_p50_ms": round(p50(self.latencies), 1),
            "update_p99_ms": round(percentile(self.latencies, 99), 1),
            **{f"cpu_ms_per_hazard_{name}": value for name, value in per.items()},
            "load_1m": round(self.load_average, 2),
            **self.extra,
        }


async def run_phase(kind: str, lifecycle: Lifecycle, *, hazards: int, concurrency: int, pids: dict[str, int]) -> Phase:
    """`hazards` lifecycles, `concurrency` at a time; CPU of each named process over the phase."""
    import os

    latencies: list[float] = []
    errors: list[BaseException] = []
    remaining = iter(range(hazards))

    async def client_loop() -> None:
        for _ in remaining:
            try:
                await lifecycle(latencies)
            except Exception as err:  # counted and reported: a benchmark error is a result
                errors.append(err)

    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    load = os.getloadavg()[0]
    started = time.perf_counter()
    async with asyncio.TaskGroup() as tasks:
        for _ in range(concurrency):
            tasks.create_task(client_loop())
    seconds = time.perf_counter() - started
    cpu = {name: cpu_seconds(pid) - before[name] for name, pid in pids.items()}
    load = max(load, os.getloadavg()[0])
    for err in errors[:3]:
        print(f"  {kind} error: {err!r}", file=sys.stderr)
    return Phase(kind, concurrency, hazards - len(errors), seconds, latencies, cpu, len(errors), load)


@dataclass
class Workers:
    hazard_queue: str
    floor_queue: str
    hazard_pid: int
    floor_pid: int
    database_url: str


def start_workers(
    stack: ExitStack, server: DevServer, directory: Path, *, hazard_queue: str | None = None, max_cached: int = 1000
) -> Workers:
    """The hazard worker and the floor worker, each in its own process, on this run's dev server."""
    hazard_queue = hazard_queue or f"bench-hazards-{uuid.uuid4().hex[:8]}"
    floor_queue = f"bench-floor-{uuid.uuid4().hex[:8]}"
    database_url = f"sqlite:///{directory / 'readmodel.db'}"
    common = [sys.executable, "-m", "bench.worker_process", "--address", server.address]
    cache = ["--max-cached-workflows", str(max_cached)]
    hazard = stack.enter_context(
        child(
            [*common, "--kind", "hazard", "--task-queue", hazard_queue, "--database-url", database_url, *cache],
            ready="worker ready",
            log=directory / "hazard-worker.log",
        )
    )
    floor = stack.enter_context(
        child(
            [*common, "--kind", "floor", "--task-queue", floor_queue, *cache],
            ready="worker ready",
            log=directory / "floor-worker.log",
        )
    )
    return Workers(hazard_queue, floor_queue, hazard.pid, floor.pid, database_url)


def ratios(hazard: Phase, floor: Phase) -> dict[str, float]:
    h, f = hazard.figures(), floor.figures()
    return {
        "throughput_floor_over_hazard": round(f["hazards_per_s"] / h["hazards_per_s"], 2),
        "server_cpu_hazard_over_floor": round(h["cpu_ms_per_hazard_server"] / f["cpu_ms_per_hazard_server"], 2),
        "worker_cpu_hazard_over_floor": round(h["cpu_ms_per_hazard_worker"] / f["cpu_ms_per_hazard_worker"], 2),
        "update_p50_hazard_over_floor": round(h["update_p50_ms"] / f["update_p50_ms"], 2),
    }


async def main(n1: int, n50: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-lifecycle-") as tmp, ExitStack() as stack:
        directory = Path(tmp)
        async with dev_server(directory) as server:
            workers = start_workers(stack, server, directory)
            client = await client_for(server.address)
            engine = make_engine(workers.database_url)
            stack.callback(engine.dispose)
            kinds: dict[str, tuple[Lifecycle, int]] = {
                "issue_floor": (
                    lambda lat: floor_lifecycle(client, workers.floor_queue, lat, local=False),
                    workers.floor_pid,
                ),
                "floor": (lambda lat: floor_lifecycle(client, workers.floor_queue, lat), workers.floor_pid),
                "hazard": (
                    lambda lat: hazard_lifecycle(client, engine, workers.hazard_queue, lat),
                    workers.hazard_pid,
                ),
            }
            import os

            me = os.getpid()
            for lifecycle, _ in kinds.values():  # warm-up: imports, caches, first SQLite pages; not recorded
                await run_phase("warm-up", lifecycle, hazards=3, concurrency=1, pids={})
            rows: list[dict[str, Any]] = []
            summary: dict[str, Any] = {}
            for concurrency, hazards in ((1, n1), (50, n50)):
                # Floors first, then hazard, back to back: the load all see is as close as this machine allows;
                # the like-for-like floor runs right before the hazard.
                phases = {
                    kind: await run_phase(
                        kind,
                        lifecycle,
                        hazards=hazards,
                        concurrency=concurrency,
                        pids={"server": server.pid, "worker": pid, "client": me},
                    )
                    for kind, (lifecycle, pid) in kinds.items()
                }
                rows += [p.figures() for p in phases.values()]
                summary[f"c{concurrency}"] = {
                    "floor": phases["floor"].figures(),
                    "issue_floor": phases["issue_floor"].figures(),
                    "hazard": phases["hazard"].figures(),
                    "ratios": ratios(phases["hazard"], phases["floor"]),
                    "ratios_to_issue_floor": ratios(phases["hazard"], phases["issue_floor"]),
                }
            table("lifecycle: hazard workflow vs floors (5 updates each)", rows)
            for key, floor in (
                ("ratios", "the floor of local activities"),
                ("ratios_to_issue_floor", "the floor of task-queue activities, as issue 7 measured it"),
            ):
                table(
                    f"lifecycle ratios to {floor} (target <= 1.5)",
                    [{"concurrency": k, **v[key]} for k, v in summary.items()],
                )
            record("lifecycle", {"n1": n1, "n50": n50, "updates_per_hazard": UPDATES}, summary)


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n1", type=int, default=15, help="hazards at concurrency 1")
    parser.add_argument("--n50", type=int, default=150, help="hazards at concurrency 50")
    args = parser.parse_args()
    asyncio.run(main(args.n1, args.n50))


if __name__ == "__main__":
    cli()
