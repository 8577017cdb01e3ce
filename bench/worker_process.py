"""A worker in a process of its own, so its CPU is measured apart from the clients': `hazard` is the real
worker (worker.build_worker on a migrated SQLite read model), `floor` runs only bench.floor."""

import argparse
import asyncio
import signal
from concurrent.futures import ThreadPoolExecutor

from temporalio.runtime import Runtime
from temporalio.worker import Worker

from bench.common import client_for
from bench.floor import FloorWorkflow, noop
from infra.heap import freeze_startup_heap
from infra.logging import configure_logging
from infra.metrics import temporal_runtime
from readmodel.db import make_engine
from readmodel.migrate import upgrade
from settings import Settings
from worker import build_worker


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--address", required=True)
    parser.add_argument("--task-queue", required=True)
    parser.add_argument("--kind", choices=["hazard", "floor"], required=True)
    parser.add_argument("--database-url")
    parser.add_argument("--max-cached-workflows", type=int, default=1000)
    args = parser.parse_args()
    # As worker.main: before any client, the SDK Core's log lines go through ours (stderr), metrics endpoint off.
    Runtime.set_default(temporal_runtime(prometheus_address=None))
    client = await client_for(args.address)
    if args.kind == "hazard":
        # As worker.main sets it up: JSON log lines (to stderr, kept in the run's directory).
        configure_logging(json=True)
        upgrade(args.database_url)
        engine = make_engine(args.database_url)
        settings = Settings(database_url=args.database_url, worker_metrics_port=None)
        worker = build_worker(
            client,
            engine,
            task_queue=args.task_queue,
            settings=settings,
            max_cached_workflows=args.max_cached_workflows,
        )
    else:
        # The same executor and concurrency limits as build_worker, so only the workflow differs.
        worker = Worker(
            client,
            task_queue=args.task_queue,
            workflows=[FloorWorkflow],
            activities=[noop],
            activity_executor=ThreadPoolExecutor(max_workers=8),
            max_concurrent_activities=8,
            max_concurrent_local_activities=8,
            max_cached_workflows=args.max_cached_workflows,
        )
    # As worker.main, for both kinds: the floor's process is set up no worse than the hazard's.
    freeze_startup_heap()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with worker:
        print("worker ready", flush=True)
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
