"""A worker killed mid-lifecycle (SIGKILL: no shutdown, no goodbye) loses no event and doubles none.

The real `worker.py` runs as a child process in a namespace of its own on the dev server, so no other test's
worker can take its tasks. Hazards walk a full path concurrently while the worker is killed with updates in
flight, and once with none running at all; each time a fresh process takes over.
"""

import asyncio
import base64
import random
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Literal, TypeVar

import pytest
import pytest_asyncio
from sqlmodel import Session, col, select
from temporalio.api.enums.v1 import EventType, TimeoutType
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from contracts.hazard import TASK_QUEUE, ActionResult, ReportHazardInput, workflow_id
from infra.temporal import connect, ensure_namespace
from readmodel.db import make_engine
from readmodel.models import Hazard, HazardEventRow
from tests.conftest import new_hazard_id
from tests.keys import CONVERTER, TEST_PAYLOAD_KEY
from tests.processes import WorkerProcess
from tests.scenarios import PATHS
from workflows.hazard import HazardWorkflow

T = TypeVar("T")

SEED = 20260412
HAZARDS = 5
PATH = PATHS["review_rejected_then_closed"]
EVENTS = len(PATH.steps) + 1
# What happens to the worker in each step's round of updates:
#   kill  SIGKILL it a moment after the updates are sent, then start a fresh one
#   down  SIGKILL it first, send the updates with no worker running, then start a fresh one
#   calm  leave it alone
Round = Literal["kill", "down", "calm"]
ROUNDS: tuple[Round, ...] = ("kill", "kill", "calm", "down", "kill", "calm")
# Long enough for an update to cross the moment of a kill, short enough to be in flight when it comes.
KILL_AFTER = (0.02, 0.15)
# A dead worker's workflow tasks pass to the next worker only when they time out (10 s by default).
ROUND_TIMEOUT = 40.0


@pytest_asyncio.fixture
async def crash_client(dev_env: WorkflowEnvironment) -> Client:
    namespace = f"xiaohao-crash-{uuid.uuid4().hex[:12]}"
    await ensure_namespace(dev_env.client, namespace)
    return await connect(dev_env.client.service_client.config.target_host, namespace, CONVERTER)


@pytest_asyncio.fixture
async def worker(crash_client: Client, tmp_path: Path) -> AsyncIterator[WorkerProcess]:
    process = WorkerProcess(
        {
            "XIAOHAO_TEMPORAL_ADDRESS": crash_client.service_client.config.target_host,
            "XIAOHAO_TEMPORAL_NAMESPACE": crash_client.namespace,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'readmodel.db'}",
            "XIAOHAO_LOG_JSON": "true",
            "XIAOHAO_DATA_DIR": str(tmp_path),
            "XIAOHAO_PAYLOAD_KEY": base64.b64encode(TEST_PAYLOAD_KEY).decode(),
            # A developer's running stack holds the default metrics port.
            "XIAOHAO_WORKER_METRICS_PORT": "0",
        }
    )
    try:
        yield process
    finally:
        await process.kill()


async def settle(tasks: list[asyncio.Task[T]], worker: WorkerProcess, what: str) -> list[T]:
    """Every task's result, or a failure naming what hung: never a hang."""
    _, pending = await asyncio.wait(tasks, timeout=ROUND_TIMEOUT)
    if pending:
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        pytest.fail(f"{len(pending)} of {len(tasks)} {what} not done in {ROUND_TIMEOUT}s; worker log:\n{worker.tail()}")
    return [task.result() for task in tasks]


@pytest.mark.slow
async def test_killed_worker_loses_and_doubles_no_event(
    crash_client: Client, worker: WorkerProcess, tmp_path: Path
) -> None:
    assert len(ROUNDS) == len(PATH.steps)
    rng = random.Random(SEED)
    await worker.start()
    handles = [
        await crash_client.start_workflow(
            HazardWorkflow.run,
            ReportHazardInput(hazard_id=hazard_id, actor=PATH.reporter, report=PATH.report()),
            id=workflow_id(hazard_id),
            task_queue=TASK_QUEUE,
        )
        for hazard_id in (new_hazard_id() for _ in range(HAZARDS))
    ]

    kills_mid_update = 0
    done_while_down = 0
    for number, (step, kind) in enumerate(zip(PATH.steps, ROUNDS, strict=True)):
        if kind == "down":
            await worker.kill()
        updates = [
            asyncio.create_task(
                handle.execute_update(step.update, step.input(), id=f"{handle.id}-{number}", result_type=ActionResult)
            )
            for handle in handles
        ]
        if kind == "kill":
            await asyncio.sleep(rng.uniform(*KILL_AFTER))
            outstanding = sum(not update.done() for update in updates)
            await worker.kill()
            kills_mid_update += outstanding > 0
        elif kind == "down":
            await asyncio.sleep(rng.uniform(0.2, 1.0))
            done_while_down += sum(update.done() for update in updates)
        if kind != "calm":
            await worker.start()
        results = await settle(updates, worker, f"{step.update} updates")
        # Applied exactly once: the event each update made is the next in its hazard's sequence.
        assert [r.event.seq for r in results] == [number + 2] * HAZARDS

    finals = await settle([asyncio.create_task(handle.result()) for handle in handles], worker, "workflows")

    # The crashes really happened, and really in the middle of things.
    assert worker.kills == len(ROUNDS) - ROUNDS.count("calm"), "a worker died on its own:\n" + worker.tail()
    assert kills_mid_update >= 1, "no kill came while an update was outstanding"
    assert done_while_down == 0, "an update completed while no worker was running"
    held_when_killed = 0
    for handle in handles:
        history = await handle.fetch_history()
        held_when_killed += sum(
            event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT
            and event.workflow_task_timed_out_event_attributes.timeout_type == TimeoutType.TIMEOUT_TYPE_START_TO_CLOSE
            for event in history.events
        )
    assert held_when_killed >= 1, "no worker was killed while it held a workflow task"

    engine = make_engine(f"sqlite:///{tmp_path / 'readmodel.db'}")
    try:
        for handle, final in zip(handles, finals, strict=True):
            assert final.stage is PATH.final
            assert final.version == EVENTS
            events = (await handle.query(HazardWorkflow.get_events)).events
            assert [e.seq for e in events] == list(range(1, EVENTS + 1))
            with Session(engine) as session:
                rows = session.exec(select(Hazard).where(Hazard.hazard_id == final.hazard_id)).all()
                projected = session.exec(
                    select(HazardEventRow)
                    .where(HazardEventRow.hazard_id == final.hazard_id)
                    .order_by(col(HazardEventRow.id))
                ).all()
            assert [(row.version, row.stage) for row in rows] == [(EVENTS, PATH.final)]
            assert [row.seq for row in projected] == list(range(1, EVENTS + 1))
            assert [row.action for row in projected] == [e.action.value for e in events]
    finally:
        engine.dispose()
