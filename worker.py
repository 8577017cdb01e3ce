"""The worker: runs hazard workflows and their activities. `python worker.py` reads its settings from the
environment (XIAOHAO_TEMPORAL_ADDRESS, XIAOHAO_TEMPORAL_NAMESPACE, DATABASE_URL)."""

import asyncio
import signal
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import structlog
from prometheus_client import start_http_server
from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.worker import Worker

from activities.escalation import EscalationActivities
from activities.read_model import ReadModelActivities
from activities.schedule import ScheduleActivities
from contracts.hazard import TASK_QUEUE
from infra.codec import data_converter, load_or_create_key
from infra.logging import configure_logging
from infra.temporal import connect
from notifications.outbox import OutboxDrainer
from readmodel.db import make_engine
from readmodel.migrate import upgrade
from settings import Settings
from workflows.hazard import HazardWorkflow

log = structlog.get_logger("worker")


def build_worker(
    client: Client,
    engine: Engine,
    *,
    task_queue: str = TASK_QUEUE,
    settings: Settings | None = None,
    max_cached_workflows: int = 1000,
) -> Worker:
    settings = settings or Settings()
    read_model = ReadModelActivities(engine)
    schedule = ScheduleActivities(engine)
    escalation = EscalationActivities(
        engine, issuer_name=settings.issuer_name, doc_number_prefix=settings.doc_number_prefix
    )
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[HazardWorkflow],
        activities=[
            read_model.project_hazard,
            schedule.schedule_deadline,
            schedule.load_policy,
            escalation.issue_escalation,
        ],
        activity_executor=ThreadPoolExecutor(max_workers=8),
        max_concurrent_activities=8,
        max_concurrent_local_activities=8,
        max_cached_workflows=max_cached_workflows,
        # SIGTERM lets in-flight activities finish, but not forever: a redeploy must not hang on one.
        graceful_shutdown_timeout=timedelta(seconds=10),
    )


async def main() -> None:
    settings = Settings()
    configure_logging(json=settings.log_json)
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    if settings.worker_metrics_port:
        # Our own counters (deadlines on the fallback calendar, ...); the SDK's metrics are set up with its runtime.
        start_http_server(settings.worker_metrics_port, addr="127.0.0.1")
    key = load_or_create_key(settings.payload_key, settings.payload_key_file)
    client = await connect(settings.temporal_address, settings.temporal_namespace, data_converter(key))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    worker = build_worker(client, engine, settings=settings)
    log.info("worker started", task_queue=TASK_QUEUE, namespace=settings.temporal_namespace)
    drainer = OutboxDrainer(engine, settings.webhook_url)
    if settings.webhook_url is None:
        log.warning("XIAOHAO_WEBHOOK_URL is not set: notifications stay queued in the outbox")
    async with worker, asyncio.TaskGroup() as tasks:
        tasks.create_task(drainer.run(stop))
        await stop.wait()
        log.info("worker stopping: letting in-flight tasks finish")


if __name__ == "__main__":
    asyncio.run(main())
