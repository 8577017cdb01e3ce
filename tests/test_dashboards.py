"""The Prometheus scrape config and the provisioned Grafana dashboards: every query names a metric some process
really exports (collected here from live registries and scrapes), and Prometheus scrapes the right ports."""

import json
import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.common import RetryPolicy
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from api.main import create_app
from infra.metrics import temporal_runtime
from infra.ports import free_port
from readmodel.migrate import upgrade
from settings import Settings
from tests.conftest import binary

DOCKER = Path(__file__).resolve().parent.parent / "docker"
DASHBOARDS = sorted((DOCKER / "grafana" / "dashboards").glob("*.json"))

# Exported only once something happens that a short run does not provoke (a poll timing out after a minute, a
# cache eviction, a failing workflow task...). Names as defined by the SDK's Core (sdk-core telemetry/metrics.rs,
# listed at https://docs.temporal.io/references/sdk-metrics) and the server (common/metrics/metric_defs.go).
DOCUMENTED = {
    "temporal_sticky_cache_miss",
    "temporal_sticky_cache_total_forced_eviction",
    "temporal_workflow_task_queue_poll_empty",
    "temporal_activity_poll_no_task",
    "temporal_workflow_task_execution_failed",
    "temporal_long_request_failure",
    "service_error_with_type",
}
# Prometheus' own series for every target.
SYNTHETIC = {"up"}
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset", "and", "or", "unless"}


def exported_names(text: str) -> set[str]:
    """Every series name a scrape can hold: the samples present, and for families declared without samples yet
    (a labelled counter nothing has counted), the names their type gives them."""
    names = set()
    for family in text_string_to_metric_families(text):
        names |= {sample.name for sample in family.samples}
        names |= {
            "counter": {f"{family.name}_total", f"{family.name}_created", family.name},
            "histogram": {f"{family.name}_bucket", f"{family.name}_sum", f"{family.name}_count"},
            "gauge": {family.name},
        }.get(family.type, set())
    return names


def queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, expr) for every target, rows' nested panels included."""
    found = []
    for panel in dashboard["panels"]:
        for inner in [panel, *panel.get("panels", [])]:
            found += [(inner["title"], target["expr"]) for target in inner.get("targets", [])]
    return found


def metric_names(expr: str) -> set[str]:
    """The metric names in a PromQL expression: what is left once strings, label matchers, ranges, grouping
    clauses, function calls and keywords are taken out."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    expr = re.sub(r"\{[^}]*\}", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    return {
        match.group(1)
        for match in re.finditer(r"(?<![\w$.])([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\()?", expr)
        if match.group(2) is None and match.group(1) not in PROMQL_WORDS
    }


def test_metric_names_are_read_from_promql() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (le, route) (rate(a_bucket{job="x", status=~"5.."}[$__rate_interval])))'
        " / ignoring(le) max without (instance) (b) + on (job) group_left c offset 5m > bool 0"
    )
    assert metric_names(expr) == {"a_bucket", "b", "c"}


def test_prometheus_scrapes_every_process_on_its_port() -> None:
    config = yaml.safe_load((DOCKER / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {"xiaohao-api", "xiaohao-worker", "xiaohao-worker-sdk", "temporal"}
    defaults = Settings.model_fields

    def sd(job: str) -> tuple[list[str], int]:
        (discovery,) = jobs[job]["dns_sd_configs"]
        assert discovery["type"] == "A"  # every replica of the service, not one
        return discovery["names"], discovery["port"]

    assert sd("xiaohao-api") == (["api"], defaults["api_port"].default)
    assert jobs["xiaohao-api"]["metrics_path"] == "/metrics"
    assert "/metrics" in create_app(Settings()).openapi()["paths"]
    assert sd("xiaohao-worker") == (["worker"], defaults["worker_metrics_port"].default)
    assert sd("xiaohao-worker-sdk") == (["worker"], defaults["worker_sdk_metrics_port"].default)
    assert (defaults["worker_metrics_port"].default, defaults["worker_sdk_metrics_port"].default) == (9464, 9465)
    assert jobs["temporal"]["static_configs"] == [{"targets": ["temporal:9090"]}]


def test_grafana_provisions_the_datasource_and_every_dashboard() -> None:
    provisioning = DOCKER / "grafana" / "provisioning"
    (source,) = yaml.safe_load((provisioning / "datasources" / "prometheus.yaml").read_text())["datasources"]
    assert (source["type"], source["url"], source["uid"]) == ("prometheus", "http://prometheus:9090", "prometheus")
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "xiaohao.yaml").read_text())["providers"]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"
    assert [path.name for path in DASHBOARDS] == ["temporal-sdk.json", "xiaohao-service.json"]
    uids = set()
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        uids.add(dashboard["uid"])
        variables = {variable["name"] for variable in dashboard["templating"]["list"]}
        assert "datasource" in variables
        panels = [p for p in dashboard["panels"] if p["type"] != "row"]
        assert panels
        for panel in panels:
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
            assert panel["targets"], panel["title"]
    assert len(uids) == len(DASHBOARDS)


@activity.defn(name="sample_activity")
def sample_activity() -> None:
    # Fails its first attempt, like a webhook that is briefly down, so failure counters are exported too.
    if activity.info().attempt == 1:
        raise RuntimeError("first attempt fails")


@workflow.defn(name="SampleWorkflow")
class SampleWorkflow:
    @workflow.run
    async def run(self) -> None:
        retry = RetryPolicy(initial_interval=timedelta(milliseconds=10))
        timeout = timedelta(seconds=10)
        await workflow.execute_activity(sample_activity, start_to_close_timeout=timeout, retry_policy=retry)
        await workflow.execute_local_activity(sample_activity, start_to_close_timeout=timeout, retry_policy=retry)


async def temporal_exports() -> tuple[set[str], set[str]]:
    """What the SDK's endpoint (as the worker configures it) and the Temporal server export, from a real dev
    server and a real worker running activities and local activities."""
    server_port, sdk_port = free_port(), free_port()
    env = await WorkflowEnvironment.start_local(
        port=free_port(),
        dev_server_existing_path=binary("temporal"),
        dev_server_extra_args=["--metrics-port", str(server_port)],
    )
    async with env:
        client = await Client.connect(
            env.client.service_client.config.target_host,
            namespace=env.client.namespace,
            runtime=temporal_runtime(prometheus_address=f"127.0.0.1:{sdk_port}"),
        )
        task_queue = f"sample-{uuid.uuid4()}"
        async with Worker(
            client,
            task_queue=task_queue,
            workflows=[SampleWorkflow],
            activities=[sample_activity],
            activity_executor=ThreadPoolExecutor(max_workers=2),
            workflow_runner=UnsandboxedWorkflowRunner(),
        ):
            await client.execute_workflow(SampleWorkflow.run, id=f"sample-{uuid.uuid4()}", task_queue=task_queue)
            # A failing request, so request failures are exported.
            with pytest.raises(RPCError):
                await client.get_workflow_handle(f"missing-{uuid.uuid4()}").describe()
            async with httpx.AsyncClient(timeout=10) as http:
                sdk = (await http.get(f"http://127.0.0.1:{sdk_port}/metrics")).text
                server = (await http.get(f"http://127.0.0.1:{server_port}/metrics")).text
    return exported_names(sdk), exported_names(server)


async def service_scrapes(tmp_path: Path) -> list[str]:
    """What the API's /metrics serves (its read-model gauges and the process registry) and what the worker's
    metrics port serves (the process registry, start_http_server's default)."""
    url = f"sqlite:///{tmp_path / 'readmodel.db'}"
    upgrade(url)
    app = create_app(Settings(data_dir=tmp_path, database_url=url, jwt_secret="x"), process_setup=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as http,
    ):
        api = (await http.get("/metrics")).text
    return [api, generate_latest(REGISTRY).decode()]


@pytest.mark.slow
async def test_every_query_names_a_metric_that_is_exported(tmp_path: Path) -> None:
    scrapes = await service_scrapes(tmp_path)
    ours = set().union(*(exported_names(text) for text in scrapes))
    sdk, server = await temporal_exports()
    # Failures the sample provoked: counted live, not taken on trust.
    assert {"temporal_activity_execution_failed", "temporal_request_failure"} <= sdk
    known = ours | sdk | server | DOCUMENTED | SYNTHETIC

    used: set[str] = set()
    for path in DASHBOARDS:
        for title, expr in queries(json.loads(path.read_text())):
            names = metric_names(expr)
            assert names, f"{path.name}: {title}: no metric in {expr}"
            assert names <= known, f"{path.name}: {title}: {sorted(names - known)} not exported by any process"
            used |= names

    # The dashboards chart every metric the service defines.
    defined = {
        family.name
        for text in scrapes
        for family in text_string_to_metric_families(text)
        # prometheus_client's creation timestamps come out as families of their own in text.
        if family.name.startswith("xiaohao_") and not family.name.endswith("_created")
    }
    assert {"xiaohao_hazards_open", "xiaohao_outbox_backlog", "xiaohao_transitions"} <= defined
    uncharted = {name for name in defined if not any(u == name or u.startswith(f"{name}_") for u in used)}
    assert not uncharted
