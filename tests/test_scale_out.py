"""Scale-out as production runs it: two worker processes and two API processes against one Temporal server and one
PostgreSQL read model. Hazards are driven through both APIs, one worker is SIGKILLed mid-flight, and every hazard
still ends CLOSED with each of its events in the read model exactly once. The API drains on SIGTERM."""

import asyncio
import signal
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlmodel import Session, col, select
from temporalio.testing import WorkflowEnvironment

from api.auth import mint_token
from contracts.hazard import Actor
from infra.temporal import ensure_namespace
from readmodel.db import make_engine
from readmodel.migrate import upgrade
from readmodel.models import Hazard, HazardEventRow
from tests.keys import TEST_PAYLOAD_KEY
from tests.postgres import PostgresServer
from tests.processes import API_DRAIN_SECONDS, ApiProcess, ServiceProcess, WorkerProcess, service_env
from tests.scenarios import ENTERPRISE, REVIEWER, plan, rectification, report

HAZARDS = 12
# The review-rejected path through the API: (action, actor, body, stage after).
STEPS: list[tuple[str, Actor, dict[str, Any], str]] = [
    ("plan", ENTERPRISE, plan().model_dump(mode="json"), "INTERIM_CONTROL"),
    ("interim-controls", ENTERPRISE, {"kind": "cordon", "measures": "设置警戒区"}, "RECTIFY"),
    ("rectification", ENTERPRISE, rectification().model_dump(mode="json"), "REVIEW"),
    ("review", REVIEWER, {"decision": "reject", "opinion": "联锁未调试"}, "RECTIFY"),
    ("rectification", ENTERPRISE, rectification().model_dump(mode="json"), "REVIEW"),
    ("review", REVIEWER, {"decision": "approve", "opinion": "同意销号"}, "CLOSED"),
]
KILL_WORKER_AT_STEP = 2
# A dead worker's sticky workflow tasks pass to the other worker when they time out (about 10 s).
REQUEST_TIMEOUT = 60.0


@dataclass
class Cluster:
    apis: list[ApiProcess]
    workers: list[WorkerProcess]
    database_url: str
    secret: str

    def auth(self, actor: Actor) -> dict[str, str]:
        token = mint_token(actor, secret=self.secret, issuer="xiaohao", audience="xiaohao-api", ttl=timedelta(hours=1))
        return {"Authorization": f"Bearer {token}"}

    def tails(self) -> str:
        processes: list[ServiceProcess] = [*self.apis, *self.workers]
        return "\n".join(process.tail(15) for process in processes)


@pytest_asyncio.fixture
async def cluster(dev_env: WorkflowEnvironment, postgres: PostgresServer, tmp_path: Path) -> AsyncIterator[Cluster]:
    namespace = f"xiaohao-scale-{uuid.uuid4().hex[:12]}"
    await ensure_namespace(dev_env.client, namespace)
    database_url = postgres.create_database("scale")
    upgrade(database_url)
    secret = "scale-secret-" + uuid.uuid4().hex
    env = service_env(
        temporal_address=dev_env.client.service_client.config.target_host,
        namespace=namespace,
        database_url=database_url,
        # Shared by every process, as a volume is in production (evidence, audit checkpoints).
        data_dir=tmp_path,
        payload_key=TEST_PAYLOAD_KEY,
        jwt_secret=secret,
    )
    workers = [WorkerProcess(env), WorkerProcess(env)]
    apis = [ApiProcess(env), ApiProcess(env)]
    try:
        await asyncio.gather(*(process.start() for process in [*workers, *apis]))
        yield Cluster(apis=apis, workers=workers, database_url=database_url, secret=secret)
    finally:
        await asyncio.gather(*(process.kill() for process in [*workers, *apis]))


async def post(
    http: httpx.AsyncClient, url: str, cluster: Cluster, actor: Actor, body: dict[str, Any]
) -> httpx.Response:
    headers = cluster.auth(actor) | {"Idempotency-Key": uuid.uuid4().hex}
    return await http.post(url, json=body, headers=headers, timeout=REQUEST_TIMEOUT)


@pytest.mark.slow
async def test_two_workers_two_apis_one_killed_nothing_lost_or_doubled(cluster: Cluster) -> None:
    second = cluster.apis[1]
    async with httpx.AsyncClient() as http:
        body = report().model_dump(mode="json", exclude_none=True)
        reported = await asyncio.gather(
            *(post(http, f"{cluster.apis[i % 2].url}/hazards", cluster, ENTERPRISE, body) for i in range(HAZARDS))
        )
        assert [r.status_code for r in reported] == [201] * HAZARDS, [r.text for r in reported if r.status_code != 201]
        hazard_ids = [r.json()["hazard_id"] for r in reported]

        for step, (action, actor, body, stage) in enumerate(STEPS):
            sent = [
                asyncio.create_task(
                    post(http, f"{cluster.apis[(i + step) % 2].url}/hazards/{hazard_id}/{action}", cluster, actor, body)
                )
                for i, hazard_id in enumerate(hazard_ids)
            ]
            if step == KILL_WORKER_AT_STEP:
                await asyncio.sleep(0.05)
                await cluster.workers[0].kill()
            answers = await asyncio.gather(*sent)
            failed = [(r.status_code, r.text) for r in answers if r.status_code != 200]
            assert not failed, f"step {action}: {failed}\n{cluster.tails()}"
            assert {r.json()["state"]["stage"] for r in answers} == {stage}

        assert cluster.workers[0].kills == 1
        for i, hazard_id in enumerate(hazard_ids):
            state = await http.get(f"{cluster.apis[i % 2].url}/hazards/{hazard_id}", headers=cluster.auth(REVIEWER))
            assert state.json()["stage"] == "CLOSED"
        listed = await http.get(
            f"{second.url}/hazards", params={"stage": "CLOSED", "limit": 100}, headers=cluster.auth(REVIEWER)
        )
        assert listed.json()["count"] == HAZARDS

    engine = make_engine(cluster.database_url)
    try:
        with Session(engine) as session:
            rows = session.exec(select(Hazard).where(col(Hazard.hazard_id).in_(hazard_ids))).all()
            assert {(row.stage, row.version) for row in rows} == {("CLOSED", len(STEPS) + 1)}
            for hazard_id in hazard_ids:
                seqs = session.exec(
                    select(HazardEventRow.seq)
                    .where(HazardEventRow.hazard_id == hazard_id)
                    .order_by(col(HazardEventRow.seq))
                ).all()
                assert list(seqs) == list(range(1, len(STEPS) + 2)), hazard_id
    finally:
        engine.dispose()


@pytest.mark.slow
async def test_sigterm_drains_a_request_in_flight_and_refuses_new_ones(cluster: Cluster) -> None:
    api = cluster.apis[0]
    async with httpx.AsyncClient() as http:
        reported = await post(http, f"{api.url}/hazards", cluster, ENTERPRISE, report().model_dump(mode="json"))
        hazard_id = reported.json()["hazard_id"]
        # With no worker the update waits in Temporal: a request that is still in flight when SIGTERM comes.
        await asyncio.gather(*(worker.kill() for worker in cluster.workers))
        in_flight = asyncio.create_task(
            post(http, f"{api.url}/hazards/{hazard_id}/plan", cluster, ENTERPRISE, STEPS[0][2])
        )
        await asyncio.sleep(0.5)
        stopping = api.terminate()
        await asyncio.sleep(0.5)
        assert stopping.returncode is None, "the API quit with a request in flight"
        with pytest.raises(httpx.ConnectError):
            await http.get(f"{api.url}/healthz", timeout=2)
        await cluster.workers[0].start()
        answer = await in_flight
        assert answer.status_code == 200, answer.text
        assert answer.json()["state"]["stage"] == "INTERIM_CONTROL"
        status = await asyncio.wait_for(api.stopped(stopping), timeout=API_DRAIN_SECONDS)
        # uvicorn handles SIGTERM, shuts down, then raises the signal again so that its parent sees why it stopped:
        # the status alone cannot tell a drain from a kill, its own last line can.
        assert status in (0, -signal.SIGTERM), api.tail()
        assert "Finished server process" in api.tail(5), api.tail()
