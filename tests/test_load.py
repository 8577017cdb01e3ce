"""Load (issue 8, item 8): many clients at once for a fixed time against the API served by uvicorn on loopback, with
the real worker, a dev server and the SQLite read model (the `make run` stack), mixing actions with list, hazard
and statistics reads. No request may fail, and every event a client was answered with must reach the read model.

Each client walks its own hazards (report, plan, interim control, rectification, approval) between reads, so an
action never conflicts with another client's and any non-2xx answer is an error. Latencies are reported per kind.
"""

import asyncio
import random
import statistics
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from api.auth import mint_token
from contracts.hazard import Actor
from infra.temporal import ensure_namespace
from readmodel.migrate import upgrade
from tests.figures import record
from tests.keys import TEST_PAYLOAD_KEY
from tests.processes import ApiProcess, WorkerProcess, service_env
from tests.scenarios import AUDITOR, ENTERPRISE, REVIEWER, STREET, plan, rectification, report

# A hazard's life through the API: (action, actor, body).
LIFE: list[tuple[str, Actor, dict[str, Any]]] = [
    ("plan", ENTERPRISE, plan().model_dump(mode="json")),
    ("interim-controls", ENTERPRISE, {"kind": "cordon", "measures": "设置警戒区"}),
    ("rectification", ENTERPRISE, rectification().model_dump(mode="json")),
    ("review", REVIEWER, {"decision": "approve", "opinion": "同意销号"}),
]
REQUEST_TIMEOUT = 120.0
# Share of a client's requests that act (report or walk a hazard); the rest read.
ACT_SHARE = 0.35


@dataclass(frozen=True)
class Size:
    clients: int
    seconds: float

    @property
    def scale(self) -> str:
        return f"{self.clients} clients for {self.seconds:g} s"


QUICK = Size(clients=20, seconds=6)
FULL = Size(clients=200, seconds=60)


@dataclass
class Stack:
    api: ApiProcess
    worker: WorkerProcess
    secret: str

    def auth(self, actor: Actor) -> dict[str, str]:
        token = mint_token(actor, secret=self.secret, issuer="xiaohao", audience="xiaohao-api", ttl=timedelta(hours=2))
        return {"Authorization": f"Bearer {token}"}


@pytest_asyncio.fixture
async def stack(dev_env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[Stack]:
    namespace = f"xiaohao-load-{uuid.uuid4().hex[:12]}"
    await ensure_namespace(dev_env.client, namespace)
    database_url = f"sqlite:///{tmp_path / 'readmodel.db'}"
    upgrade(database_url)
    secret = "load-secret-" + uuid.uuid4().hex
    env = service_env(
        temporal_address=dev_env.client.service_client.config.target_host,
        namespace=namespace,
        database_url=database_url,
        data_dir=tmp_path,
        payload_key=TEST_PAYLOAD_KEY,
        jwt_secret=secret,
    )
    worker, api = WorkerProcess(env), ApiProcess(env)
    try:
        await asyncio.gather(worker.start(), api.start())
        yield Stack(api=api, worker=worker, secret=secret)
    finally:
        await asyncio.gather(worker.kill(), api.kill())


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)
    # Each hazard a client reported, and the last event seq an answer gave it.
    versions: dict[str, int] = field(default_factory=dict)

    async def timed(self, kind: str, request: "asyncio.Future[httpx.Response] | Any") -> httpx.Response | None:
        began = time.perf_counter()
        try:
            response: httpx.Response = await request
        except httpx.HTTPError as err:
            self.errors.append(f"{kind}: {err!r}")
            return None
        self.latencies[kind].append(time.perf_counter() - began)
        if not 200 <= response.status_code < 300:
            self.errors.append(f"{kind}: {response.status_code} {response.text[:200]}")
            return None
        return response


async def client_loop(http: httpx.AsyncClient, stack: Stack, tally: Tally, number: int, until: float) -> None:
    rng = random.Random(number)
    enterprise, reviewer, street, auditor = (stack.auth(a) for a in (ENTERPRISE, REVIEWER, STREET, AUDITOR))
    body = report().model_dump(mode="json", exclude_none=True)
    hazard_id: str | None = None
    step = 0
    while time.monotonic() < until:
        roll = rng.random()
        if roll < ACT_SHARE:
            if hazard_id is None:
                headers = enterprise | {"Idempotency-Key": uuid.uuid4().hex}
                answer = await tally.timed("report", http.post("/hazards", json=body, headers=headers))
                if answer is not None:
                    hazard_id, step = answer.json()["hazard_id"], 0
                    tally.versions[hazard_id] = answer.json()["version"]
                continue
            action, actor, action_body = LIFE[step]
            headers = (reviewer if actor is REVIEWER else enterprise) | {"Idempotency-Key": uuid.uuid4().hex}
            url = f"/hazards/{hazard_id}/{action}"
            answer = await tally.timed("action", http.post(url, json=action_body, headers=headers))
            if answer is not None:
                tally.versions[hazard_id] = answer.json()["event"]["seq"]
                step += 1
                if step == len(LIFE):
                    hazard_id = None
        elif roll < 0.75:
            params = rng.choice([{"stage": "RECTIFY"}, {"street": "王顶堤街道"}, {"overdue": "false"}, {}])
            await tally.timed("list", http.get("/hazards", params=params, headers=street))
        elif roll < 0.9 and tally.versions:
            some = rng.choice(list(tally.versions))
            await tally.timed("hazard", http.get(f"/hazards/{some}", headers=auditor))
        else:
            params = rng.choice([{"group_by": "street"}, {"group_by": "industry"}, {}])
            await tally.timed("statistics", http.get("/statistics", params=params, headers=auditor))


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def unprojected(http: httpx.AsyncClient, stack: Stack, versions: dict[str, int]) -> dict[str, str]:
    """Hazards whose read-model events are not exactly 1..the version a client was answered with."""
    auditor = stack.auth(AUDITOR)
    missing: dict[str, str] = {}
    for hazard_id, version in versions.items():
        answer = await http.get(f"/hazards/{hazard_id}/events", headers=auditor)
        seqs = [e["seq"] for e in answer.json()["data"]] if answer.status_code == 200 else answer.status_code
        if seqs != list(range(1, version + 1)):
            missing[hazard_id] = f"events {seqs}, answered up to {version}"
    return missing


@pytest.mark.slow
@pytest.mark.parametrize(
    "size", [pytest.param(QUICK, id="quick"), pytest.param(FULL, id="full", marks=pytest.mark.reliability)]
)
async def test_clients_at_once_get_no_errors_and_lose_nothing(stack: Stack, size: Size) -> None:
    # httpx's own keep-alive (5 s) ends before the API's (API_KEEP_ALIVE_SECONDS), as a browser's or a proxy's
    # does: the client closes idle connections, never sends on one the server is closing.
    limits = httpx.Limits(max_connections=size.clients, max_keepalive_connections=size.clients)
    tally = Tally()
    async with httpx.AsyncClient(base_url=stack.api.url, timeout=REQUEST_TIMEOUT, limits=limits) as http:
        began = time.monotonic()
        until = began + size.seconds
        await asyncio.gather(*(client_loop(http, stack, tally, n, until) for n in range(size.clients)))
        elapsed = time.monotonic() - began
        # The projection follows the answer by a moment: give it a bounded while.
        for _ in range(60):
            if not (missing := await unprojected(http, stack, tally.versions)):
                break
            await asyncio.sleep(0.5)

    requests = sum(len(v) for v in tally.latencies.values())
    summary = f"{len(tally.errors)} errors of {requests}: {Counter(e[:60] for e in tally.errors)}"
    failures = [line for line in stack.api.log if '"level": "error"' in line or "Traceback" in line]
    assert tally.errors == [], f"{summary}\n{tally.errors[:5]}\n" + "\n".join(failures[:5])
    assert missing == {}, missing
    assert tally.latencies["action"], "the load never acted"
    assert tally.latencies["list"], "the load never read"

    record(8, "requests answered", requests, scale=size.scale)
    record(8, "throughput", round(requests / elapsed, 1), "requests/s", scale=size.scale)
    record(8, "errors", len(tally.errors), scale=size.scale)
    record(8, "hazards reported / events not in the read model", f"{len(tally.versions)} / 0", scale=size.scale)
    for kind in ("report", "action", "list", "hazard", "statistics"):
        values = tally.latencies.get(kind)
        if values:
            p50, p99 = statistics.median(values) * 1000, percentile(values, 0.99) * 1000
            # The count goes with the value, not the name: the report keeps each name's latest value only.
            latency = f"{p50:.0f} / {p99:.0f} ms ({len(values)} requests)"
            record(8, f"{kind} p50 / p99", latency, scale=size.scale)
