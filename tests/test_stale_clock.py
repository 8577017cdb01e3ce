"""A worker that answers a query for a hazard it does not hold replays the run and keeps it. Asked again while the
run's next workflow task waits, it applies that task's events to the run it keeps with the time of the task before
(temporalio 1.35.0), and the real task goes on from there: a rung recorded so carries a time that no replay of the
history gives, in the workflow and in the read model. The hazard's clock (workflows/clock.py) refuses it: the query
or task fails, the run leaves the cache, and it is read again from a full replay.

On the dev server with real workers. Late hazards (tests/late_clock.py) are opened by a worker that issues no
letters, and each climbs its first rung through a letter worker that holds every later letter at a gate. A second
workflow worker, holding none of them, answers a query for each; the gate opens, and the hazards are queried
every 50 ms while their ladders climb. A third worker reads every hazard back from a full replay. Without the
clock's check, rungs kept the stale time: the crash loop's CI failure of 2026-12-06 (LATE-CRASH-004, events 5, 6)."""

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import pytest
from sqlalchemy import Engine
from temporalio.client import Client, WorkflowHandle, WorkflowQueryFailedError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

import worker
from activities.escalation import EscalationActivities
from contracts.deadlines import EscalationRecord, IssueEscalationInput, Rung
from contracts.hazard import HazardEvent, HazardState, ReportHazardInput, workflow_id
from infra.hazard_events import recorded_events
from infra.queries import answered
from readmodel.reconcile import Truth, compare, read_rows
from settings import Settings
from tests.conftest import new_hazard_id
from tests.figures import record
from tests.late_clock import LATE, LateClock
from tests.scenarios import ENTERPRISE, report
from workflows.clock import STALE_CLOCK, StaleClockError
from workflows.hazard import HazardWorkflow

HAZARDS = 10
# Queries in flight per hazard while its ladder climbs, every 50 ms: each may meet a workflow task waiting. Far more
# (2 per hazard every 10 ms, on a loaded machine) also meets the SDK dropping a waiting task as it drops the refused
# run: docs/reliability.md, item 1.
ASKERS = 1
PATIENCE = 60.0

Handle = WorkflowHandle[HazardWorkflow, HazardState]


class GatedEscalations(EscalationActivities):
    """Issues the first rung of a ladder at once, and the others once the gate opens."""

    gate: threading.Event

    def _issue(self, input: IssueEscalationInput, working_days_late: int) -> EscalationRecord:
        if input.rung is not Rung.REMINDER:
            self.gate.wait(timeout=PATIENCE)
        return super()._issue(input, working_days_late)


async def polled(check: Callable[[], Awaitable[bool]], pause: float) -> None:
    """Asks `check` every `pause` seconds until it holds (within PATIENCE)."""
    async with asyncio.timeout(PATIENCE):
        while True:
            if await check():
                return
            await asyncio.sleep(pause)


async def state_of(handle: Handle) -> HazardState:
    return await answered(lambda: handle.query(HazardWorkflow.get_state))


async def first_rung_fired(handle: Handle) -> bool:
    return len((await state_of(handle)).escalations) == 1


async def climbed(handle: Handle) -> bool:
    return (await state_of(handle)).listing is not None


async def read_back(client: Client, handle: Handle, hazard_id: str) -> tuple[HazardState, list[HazardEvent]]:
    return await state_of(handle), await recorded_events(client, hazard_id)


def refusals(caplog: pytest.LogCaptureFixture) -> int:
    """Activations the clock refused, as the SDK logged them (a query's or a workflow task's)."""
    return sum(1 for r in caplog.records if r.exc_info is not None and isinstance(r.exc_info[1], StaleClockError))


async def test_rungs_recorded_by_a_worker_a_query_brought_the_hazard_to_carry_the_time_replays_read(
    dev_env: WorkflowEnvironment,
    engine: Engine,
    task_queue: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="temporalio")
    client = dev_env.client
    # Workflow workers as production builds them, with the late clock and no letters of their own.
    monkeypatch.setattr(worker, "ScheduleActivities", LateClock)
    monkeypatch.setattr(worker, "Worker", partial(Worker, no_remote_activities=True))
    settings = Settings()
    letters = GatedEscalations(engine, issuer_name=settings.issuer_name, doc_number_prefix=settings.doc_number_prefix)
    letters.gate = threading.Event()
    ids = [f"{LATE}{new_hazard_id()}" for _ in range(HAZARDS)]
    handles: list[Handle] = [client.get_workflow_handle_for(HazardWorkflow.run, workflow_id(i)) for i in ids]

    with ThreadPoolExecutor(max_workers=HAZARDS) as threads:
        issuer = Worker(client, task_queue=task_queue, activities=[letters.issue_escalation], activity_executor=threads)
        async with issuer:
            async with worker.build_worker(client, engine, task_queue=task_queue):
                for hazard_id in ids:
                    await client.start_workflow(
                        HazardWorkflow.run,
                        ReportHazardInput(hazard_id=hazard_id, actor=ENTERPRISE, report=report()),
                        id=workflow_id(hazard_id),
                        task_queue=task_queue,
                    )
                # Each then waits for its second letter, held at the gate.
                for handle in handles:
                    await polled(partial(first_rung_fired, handle), 0.1)

            async with worker.build_worker(client, engine, task_queue=task_queue):
                # This worker holds none of them: each query replays its hazard's run, and the worker keeps it.
                await asyncio.gather(*(state_of(handle) for handle in handles))
                letters.gate.set()
                climbs = (polled(partial(climbed, handle), 0.05) for handle in handles for _ in range(ASKERS))
                await asyncio.gather(*climbs)

    async with worker.build_worker(client, engine, task_queue=task_queue, max_cached_workflows=0):
        replayed = await asyncio.gather(*(read_back(client, h, i) for h, i in zip(handles, ids, strict=True)))

    for hazard_id, (state, events) in zip(ids, replayed, strict=True):
        assert [e.rung for e in state.escalations] == [Rung.REMINDER, Rung.NOTICE_LETTER, Rung.SUMMONS, Rung.LISTING]
        assert compare(Truth(state, events), read_rows(engine, hazard_id)) == [], hazard_id
    refused = refusals(caplog)
    record(1, "activations refused for a stale clock and read again from a replay", refused, scale=f"{HAZARDS} hazards")
    # The run really reached the SDK's stale time: otherwise the checks above prove nothing.
    assert refused > 0


async def test_a_query_refused_for_a_stale_clock_is_asked_again_and_any_other_failure_is_not() -> None:
    asked: list[str] = []

    async def refused_twice() -> str:
        asked.append("stale")
        if len(asked) <= 2:
            raise WorkflowQueryFailedError(f"{STALE_CLOCK} 2026-12-06T20:54:35+00:00 while the history grew")
        return "answer"

    assert await answered(refused_twice) == "answer"
    assert len(asked) == 3

    async def broken() -> str:
        asked.append("broken")
        raise WorkflowQueryFailedError("no such query")

    with pytest.raises(WorkflowQueryFailedError, match="no such query"):
        await answered(broken)
    assert asked.count("broken") == 1
