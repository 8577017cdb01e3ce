"""bench.floor, the baseline of bench.lifecycle: each update runs its activity the way the floor says."""

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from bench.floor import FLOOR_WORKFLOW, FloorWorkflow, noop
from bench.lifecycle import UPDATES, floor_lifecycle
from tests.conftest import settled_history


async def floor_histories(client: Client, task_queue: str) -> list[list[str]]:
    """The settled histories of the floor workflows run on `task_queue`, once visibility lists them all."""
    query = f"WorkflowType = '{FLOOR_WORKFLOW}' AND TaskQueue = '{task_queue}'"
    for _ in range(100):
        ids = [w.id async for w in client.list_workflows(query)]
        if ids:
            return [await settled_history(client, workflow_id) for workflow_id in ids]
        await asyncio.sleep(0.05)
    raise AssertionError(f"no floor workflow listed on {task_queue}")


@pytest.mark.parametrize(
    ("local", "per_update"),
    [
        (True, "EVENT_TYPE_MARKER_RECORDED"),
        (False, "EVENT_TYPE_ACTIVITY_TASK_COMPLETED"),
    ],
)
async def test_each_update_runs_one_activity_of_the_floors_kind(
    dev_env: WorkflowEnvironment, task_queue: str, local: bool, per_update: str
) -> None:
    latencies: list[float] = []
    async with Worker(
        dev_env.client,
        task_queue=task_queue,
        workflows=[FloorWorkflow],
        activities=[noop],
        activity_executor=ThreadPoolExecutor(max_workers=2),
    ):
        await floor_lifecycle(dev_env.client, task_queue, latencies, local=local)
        [history] = await floor_histories(dev_env.client, task_queue)
    assert len(latencies) == UPDATES
    assert history.count("EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED") == UPDATES
    assert history.count(per_update) == UPDATES
    # The other kind's trace is absent: a local floor schedules no task-queue activity, and the floor
    # records no local-activity marker.
    assert history.count("EVENT_TYPE_ACTIVITY_TASK_SCHEDULED") == (0 if local else UPDATES)
    assert history.count("EVENT_TYPE_MARKER_RECORDED") == (UPDATES if local else 0)
    assert history[-1] == EventType.Name(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED)
