"""The service's metrics: counted once per event however often it is delivered, the outbox backlog counted at
scrape time, and the worker process serving its own metrics and the Temporal SDK's."""

import base64
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, delete
from sqlmodel import Session, col
from temporalio.client import Client
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.read_model import ReadModelActivities
from api.main import create_app
from contracts.enums import Action, Stage
from contracts.hazard import TASK_QUEUE, HazardEvent, ProjectHazardInput, ReportHazardInput, workflow_id
from infra.ports import free_port
from infra.temporal import connect, ensure_namespace
from readmodel.models import OutboxRow
from tests.conftest import ApiStack, new_hazard_id
from tests.keys import CONVERTER, TEST_PAYLOAD_KEY
from tests.processes import WorkerProcess
from tests.scenarios import ENTERPRISE, PATHS, REVIEWER, plan, rectification, report, walk
from tests.test_api import post
from workflows.hazard import HazardWorkflow
from workflows.lifecycle import SYSTEM, apply, open_hazard


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def counts() -> dict[str, float]:
    """The samples a projection moves, by a readable key."""
    samples = {f"transitions {a.value}": value("xiaohao_transitions_total", action=a.value) for a in Action}
    samples |= {f"stage {s.value}": value("xiaohao_stage_duration_seconds_count", stage=s.value) for s in Stage}
    samples |= {f"stage seconds {s.value}": value("xiaohao_stage_duration_seconds_sum", stage=s.value) for s in Stage}
    samples["escalations notice_letter"] = value("xiaohao_escalations_total", rung="notice_letter")
    samples["lag count"] = value("xiaohao_projection_lag_seconds_count")
    samples["lag seconds"] = value("xiaohao_projection_lag_seconds_sum")
    return samples


def moved(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {key: after[key] - before[key] for key in after if after[key] != before[key]}


def test_a_redelivered_projection_counts_nothing_twice(engine: Engine) -> None:
    reported_at = datetime.now(UTC) - timedelta(hours=3)
    record = open_hazard(new_hazard_id(), report(), ENTERPRISE, reported_at)
    apply(record, Action.SUBMIT_PLAN, ENTERPRISE, plan(), reported_at + timedelta(hours=2))
    # A rung the service fired, as lifecycle.record_escalation records it (the payload is the escalation record).
    record.events.append(
        HazardEvent(
            seq=3,
            action=Action.ESCALATE,
            actor=SYSTEM,
            at=reported_at + timedelta(hours=2, minutes=30),
            stage_before=Stage.INTERIM_CONTROL,
            stage_after=Stage.INTERIM_CONTROL,
            payload={"rung": "notice_letter", "level": 1},
        )
    )
    record.state.version = 3
    delivery = ProjectHazardInput(state=record.state, events=record.events)
    activities = ReadModelActivities(engine)
    env = ActivityEnvironment()

    before = counts()
    first = env.run(activities.project_hazard, delivery)
    after_first = counts()
    again = env.run(activities.project_hazard, delivery)

    assert (first.events_inserted, again.events_inserted) == (3, 0)
    delta = moved(before, after_first)
    lag = delta.pop("lag seconds")
    assert delta == {
        "transitions report": 1,
        "transitions submit_plan": 1,
        "transitions escalate": 1,
        "escalations notice_letter": 1,
        # Two hours in PLAN, from the report to the plan; the escalation left no stage.
        "stage PLAN": 1,
        "stage seconds PLAN": 7200,
        "lag count": 3,
    }
    # Accepted 3 h, 1 h and 30 min before they were written.
    assert abs(lag - 4.5 * 3600) < 60
    assert counts() == after_first


async def test_a_lifecycle_counts_each_transition_and_stage_once(api: ApiStack) -> None:
    before = counts()
    hazard_id = (await post(api, "/hazards", ENTERPRISE, report().model_dump(mode="json"))).json()["hazard_id"]
    steps = [
        ("plan", ENTERPRISE, plan().model_dump(mode="json")),
        ("interim-controls", ENTERPRISE, {"kind": "cordon", "measures": "设置警戒区"}),
        ("rectification", ENTERPRISE, rectification().model_dump(mode="json")),
        ("review", REVIEWER, {"decision": "reject", "opinion": "联锁未调试"}),
        ("rectification", ENTERPRISE, rectification().model_dump(mode="json")),
        ("review", REVIEWER, {"decision": "approve", "opinion": "同意销号"}),
    ]
    for number, (action, actor, body) in enumerate(steps):
        key = f"{hazard_id}-{number}"
        # Sent twice, as a client retrying after a lost answer does: acted on, and counted, once.
        for _ in range(2):
            assert (await post(api, f"/hazards/{hazard_id}/{action}", actor, body, key)).status_code == 200
    after = counts()

    delta = moved(before, after)
    lag = delta.pop("lag seconds")
    stage_seconds = [delta.pop(key) for key in [k for k in delta if k.startswith("stage seconds")]]
    assert delta == {
        "transitions report": 1,
        "transitions submit_plan": 1,
        "transitions confirm_interim_control": 1,
        "transitions report_rectification": 2,
        "transitions review": 2,
        "stage PLAN": 1,
        "stage INTERIM_CONTROL": 1,
        "stage RECTIFY": 2,
        "stage REVIEW": 2,
        "lag count": 7,
    }
    # The whole walk took seconds; the projection is written inside the update that accepted the action.
    assert 0 < sum(stage_seconds) < 120
    assert 0 <= lag < 7 * 5

    scraped = (await api.http.get("/metrics")).text
    assert 'xiaohao_transitions_total{action="review"}' in scraped
    assert 'xiaohao_stage_duration_seconds_bucket{le="60.0",stage="REVIEW"}' in scraped
    assert hazard_id not in scraped  # no hazard ids as labels


def scraped_value(text: str, name: str, **labels: str) -> float | None:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return None


async def test_outbox_backlog_counts_what_is_not_delivered(api: ApiStack) -> None:
    before = scraped_value((await api.http.get("/metrics")).text, "xiaohao_outbox_backlog")
    assert before is not None
    now = datetime.now(UTC)
    tag = uuid.uuid4().hex
    rows = [
        OutboxRow(key=f"{tag}-{n}", topic="test", payload={}, created_at=now - timedelta(hours=1), next_attempt_at=now)
        for n in range(3)
    ]
    rows[2].delivered_at = now
    with Session(api.engine) as session:
        session.add_all(rows)
        session.commit()
    try:
        text = (await api.http.get("/metrics")).text
        assert scraped_value(text, "xiaohao_outbox_backlog") == before + 2
        oldest = scraped_value(text, "xiaohao_outbox_oldest_age_seconds")
        assert oldest is not None
        assert oldest >= 3600
    finally:
        with Session(api.engine) as session:
            session.execute(delete(OutboxRow).where(col(OutboxRow.key).startswith(tag)))
            session.commit()


async def test_gauges_are_left_out_when_the_read_model_does_not_answer(api: ApiStack) -> None:
    # A database without our tables: /metrics still answers, with the backlog missing rather than a false zero.
    settings = api.settings.model_copy(update={"database_url": f"sqlite:///{api.settings.data_dir}/no-tables.db"})
    app = create_app(settings, process_setup=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as http,
    ):
        scraped = await http.get("/metrics")
    assert scraped.status_code == 200
    assert "# TYPE xiaohao_outbox_backlog gauge" in scraped.text
    assert scraped_value(scraped.text, "xiaohao_outbox_backlog") is None
    assert "xiaohao_http_request_duration_seconds_count" in scraped.text


@pytest_asyncio.fixture
async def own_namespace(dev_env: WorkflowEnvironment) -> Client:
    """A namespace of its own: no other test's worker can take this worker's tasks."""
    namespace = f"xiaohao-metrics-{uuid.uuid4().hex[:12]}"
    await ensure_namespace(dev_env.client, namespace)
    return await connect(dev_env.client.service_client.config.target_host, namespace, CONVERTER)


@pytest_asyncio.fixture
async def worker_process(own_namespace: Client, tmp_path: Path) -> AsyncIterator[tuple[WorkerProcess, int, int]]:
    ours, sdk = free_port(), free_port()
    process = WorkerProcess(
        {
            "XIAOHAO_TEMPORAL_ADDRESS": own_namespace.service_client.config.target_host,
            "XIAOHAO_TEMPORAL_NAMESPACE": own_namespace.namespace,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'readmodel.db'}",
            "XIAOHAO_LOG_JSON": "true",
            "XIAOHAO_DATA_DIR": str(tmp_path),
            "XIAOHAO_PAYLOAD_KEY": base64.b64encode(TEST_PAYLOAD_KEY).decode(),
            "XIAOHAO_WORKER_METRICS_PORT": str(ours),
            "XIAOHAO_WORKER_SDK_METRICS_PORT": str(sdk),
        }
    )
    try:
        yield process, ours, sdk
    finally:
        await process.kill()


@pytest.mark.slow
async def test_the_worker_process_serves_its_metrics_and_the_sdks(
    own_namespace: Client, worker_process: tuple[WorkerProcess, int, int]
) -> None:
    process, ours, sdk = worker_process
    await process.start()
    path = PATHS["self_report_closed"]
    hazard_id = new_hazard_id()
    handle = await own_namespace.start_workflow(
        HazardWorkflow.run,
        ReportHazardInput(hazard_id=hazard_id, actor=path.reporter, report=path.report()),
        id=workflow_id(hazard_id),
        task_queue=TASK_QUEUE,
    )
    await walk(handle, path)
    assert (await handle.result()).stage is Stage.CLOSED

    async with httpx.AsyncClient(timeout=10) as http:
        own = (await http.get(f"http://127.0.0.1:{ours}/metrics")).text
        sdk_text = (await http.get(f"http://127.0.0.1:{sdk}/metrics")).text

    # A fresh process: its counters hold this one hazard's walk exactly.
    for action in ("report", "submit_plan", "confirm_interim_control", "report_rectification", "review"):
        assert scraped_value(own, "xiaohao_transitions_total", action=action) == 1, action
    for stage in ("PLAN", "INTERIM_CONTROL", "RECTIFY", "REVIEW"):
        assert scraped_value(own, "xiaohao_stage_duration_seconds_count", stage=stage) == 1, stage
    assert scraped_value(own, "xiaohao_projection_lag_seconds_count") == 5

    names = {sample.name for family in text_string_to_metric_families(sdk_text) for sample in family.samples}
    assert {
        "temporal_workflow_task_execution_latency_bucket",
        "temporal_workflow_task_schedule_to_start_latency_bucket",
        "temporal_local_activity_execution_latency_bucket",
        "temporal_request_latency_bucket",
        "temporal_sticky_cache_size",
        "temporal_num_pollers",
    } <= names
    assert f'namespace="{own_namespace.namespace}"' in sdk_text
    # Durations in seconds, like ours (the SDK's default is milliseconds, whose first bucket is 1).
    assert any(
        sample.name == "temporal_workflow_task_execution_latency_bucket" and sample.labels["le"] == "0.001"
        for family in text_string_to_metric_families(sdk_text)
        for sample in family.samples
    )
