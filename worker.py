"""The worker: runs hazard workflows and their activities. `python worker.py` reads its settings from the
environment (XIAOHAO_TEMPORAL_ADDRESS, XIAOHAO_TEMPORAL_NAMESPACE, DATABASE_URL)."""

import asyncio
import functools
import hashlib
import signal
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from functools import partial
from pathlib import Path

import structlog
from prometheus_client import start_http_server
from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.runtime import Runtime
from temporalio.worker import Worker

from activities.escalation import EscalationActivities
from activities.read_model import ReadModelActivities
from activities.reconcile import ReconcileActivities
from activities.reports import ReportActivities, report_store
from activities.schedule import ScheduleActivities
from contracts.hazard import TASK_QUEUE
from infra.codec import data_converter, load_or_create_key
from infra.heap import freeze_startup_heap
from infra.interceptors import LogContextInterceptor
from infra.logging import configure_logging
from infra.metrics import temporal_runtime
from infra.schedules import ensure_schedules
from infra.temporal import connect
from notifications.outbox import OutboxDrainer
from readmodel.db import make_engine
from readmodel.migrate import upgrade
from settings import Settings
from workflows.hazard import HazardWorkflow
from workflows.reconcile import ReconcileReadModelWorkflow
from workflows.report import ReportWorkflow

log = structlog.get_logger("worker")

ROOT = Path(__file__).resolve().parent
# What workflow code is made of. The SDK's default build id hashes every loaded module (boto3, openpyxl, ...),
# which takes seconds at start-up; the code that decides workflow behaviour is these packages.
WORKFLOW_SOURCES = ("contracts", "workflows", "scheduling", "workcalendar")


@functools.cache
def build_id() -> str:
    digest = hashlib.sha256()
    for package in WORKFLOW_SOURCES:
        for path in sorted((ROOT / package).rglob("*.py")):
            digest.update(path.relative_to(ROOT).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


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
    reconcile = ReconcileActivities(engine)
    schedule = ScheduleActivities(engine)
    escalation = EscalationActivities(
        engine, issuer_name=settings.issuer_name, doc_number_prefix=settings.doc_number_prefix
    )
    reports = ReportActivities(engine, partial(report_store, settings), district=settings.district_name)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[HazardWorkflow, ReconcileReadModelWorkflow, ReportWorkflow],
        activities=[
            read_model.project_hazard,
            schedule.schedule_deadline,
            schedule.load_policy,
            escalation.issue_escalation,
            reports.generate_report,
            reconcile.reconcile_read_model,
        ],
        activity_executor=ThreadPoolExecutor(max_workers=8),
        max_concurrent_activities=8,
        max_concurrent_local_activities=8,
        max_cached_workflows=max_cached_workflows,
        interceptors=[LogContextInterceptor()],
        build_id=build_id(),
        # SIGTERM lets in-flight activities finish, but not forever: a redeploy must not hang on one.
        graceful_shutdown_timeout=timedelta(seconds=10),
    )


async def main() -> None:
    settings = Settings()
    configure_logging(json=settings.log_json)
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    if settings.worker_metrics_port:
        # Our own metrics (infra.metrics: transitions, escalations, projection lag, fallback-calendar deadlines...).
        start_http_server(settings.worker_metrics_port, addr=settings.worker_metrics_host)
    # Before any client exists: the SDK's metrics endpoint, and its Core's log lines through ours.
    sdk_metrics = settings.worker_sdk_metrics_port if settings.worker_metrics_port else None
    Runtime.set_default(
        temporal_runtime(prometheus_address=f"{settings.worker_metrics_host}:{sdk_metrics}" if sdk_metrics else None)
    )
    key = load_or_create_key(settings.payload_key, settings.payload_key_file)
    client = await connect(settings.temporal_address, settings.temporal_namespace, data_converter(key))
    # The service's schedules (infra/schedules.py): created, or brought to their declared spec.
    await ensure_schedules(client)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    worker = build_worker(client, engine, settings=settings)
    frozen = freeze_startup_heap()
    log.info(
        "worker started",
        startup_objects_frozen=frozen,
        task_queue=TASK_QUEUE,
        namespace=settings.temporal_namespace,
        metrics_port=settings.worker_metrics_port or None,
        sdk_metrics_port=sdk_metrics or None,
    )
    drainer = OutboxDrainer(engine, settings.webhook_url)
    if settings.webhook_url is None:
        log.warning("XIAOHAO_WEBHOOK_URL is not set: notifications stay queued in the outbox")
    async with worker, asyncio.TaskGroup() as tasks:
        tasks.create_task(drainer.run(stop))
        await stop.wait()
        log.info("worker stopping: letting in-flight tasks finish")


if __name__ == "__main__":
    asyncio.run(main())
