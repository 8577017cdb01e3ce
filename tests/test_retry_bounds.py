"""No retry storms (issue 8, item 2): 50 hazards act and climb the escalation ladder at once while another
connection keeps taking the read model's write lock for a second at a time, and still no activity needs more
than 3 attempts.

The bounds come from the worker (8 activity and 8 local-activity slots, one thread pool of 8: a burst queues
rather than piling onto the database) and from SQLite's busy timeout (30 s), under which a writer waits for the
lock instead of failing its attempt. Attempts are read from the histories Temporal recorded: the `attempt` of
each started activity, and of each local activity's marker (the projection and deadline scheduling run as local
activities). The escalation activity heartbeats; the local activities beat through their workflow task, which the
second test shows.
"""

import asyncio
import sqlite3
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import Engine
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from contracts.deadlines import Rung
from contracts.hazard import HazardState
from tests.attempts import attempts
from tests.figures import record
from tests.scenarios import PATHS, start
from tests.test_ladder import eventually, rungs_fired, sleep_until

HAZARDS = 50
MAX_ATTEMPTS = 3
# The contending writer: holds the write lock this long, then lets go for a moment.
HOLD_SECONDS = 1.0
RELEASE_SECONDS = 0.3


@dataclass
class LockHog:
    """Another writer on the read model that keeps its write lock for HOLD_SECONDS at a time."""

    path: str
    holds: int = 0
    held_seconds: float = 0.0

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "LockHog":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        # The service's engine switches the file to WAL when it first connects; a writer opened later finds it so.
        db.execute("PRAGMA journal_mode=WAL")
        try:
            while not self._stop.is_set():
                began = time.monotonic()
                db.execute("BEGIN IMMEDIATE")
                db.execute("UPDATE hazard SET version = version WHERE 0")
                self._stop.wait(HOLD_SECONDS)
                db.execute("COMMIT")
                self.holds += 1
                self.held_seconds += time.monotonic() - began
                self._stop.wait(RELEASE_SECONDS)
        finally:
            db.close()


@pytest.mark.parametrize("hazards", [pytest.param(20), pytest.param(HAZARDS, marks=pytest.mark.reliability)])
async def test_under_lock_contention_no_activity_needs_more_than_three_attempts(
    time_env: WorkflowEnvironment, time_worker: Worker, engine: Engine, database_url: str, hazards: int
) -> None:
    path = PATHS["self_report_closed"]
    with LockHog(database_url.removeprefix("sqlite:///")) as hog:
        handles = await asyncio.gather(*(start(time_env.client, path, time_worker.task_queue) for _ in range(hazards)))
        # Half act at once (plan, interim control: projections and deadline scheduling), half are left to climb
        # the whole ladder (letters: the escalation activity, its numbering counter and the outbox).
        acting, climbing = handles[: hazards // 2], handles[hazards // 2 :]
        for step in path.steps[:2]:
            await asyncio.gather(*(h.execute_update(step.update, step.input()) for h in acting))
        states: list[HazardState] = [
            await eventually(h, lambda s: bool(s.deadlines), "plan deadline armed") for h in climbing
        ]
        last_listing = max(r.at for s in states for r in s.deadlines[0].rungs if r.rung is Rung.LISTING)
        # A day at a time: one long skip keeps a single call open while the whole ladder runs under contention.
        while (now := await time_env.get_current_time()) < last_listing:
            await sleep_until(time_env, min(now + timedelta(days=1), last_listing + timedelta(minutes=1)))
        for handle in climbing:
            await eventually(handle, lambda s: Rung.LISTING in rungs_fired(s), "listed")
    histories = [await h.fetch_history() for h in handles]

    counted: Counter[str] = Counter()
    worst: Counter[str] = Counter()
    for history in histories:
        for activity_type, attempt in attempts(history):
            counted[activity_type] += 1
            worst[activity_type] = max(worst[activity_type], attempt)
    assert hog.holds >= 5, f"the lock was taken only {hog.holds} times: there was no contention to speak of"
    assert {"project_hazard", "schedule_deadline", "issue_escalation"} <= set(counted), counted
    assert max(worst.values()) <= MAX_ATTEMPTS, worst

    scale = f"{hazards} hazards, write lock held {HOLD_SECONDS:g} s of every {HOLD_SECONDS + RELEASE_SECONDS:g} s"
    record(2, "activities run", counted.total(), scale=scale)
    for activity_type in sorted(counted):
        record(2, f"most attempts of one {activity_type}", worst[activity_type], scale=scale)
    record(2, "write lock taken by the contending writer", f"{hog.holds} times, {hog.held_seconds:.0f} s", scale=scale)


# The projection waits on the read model's write lock for longer than its workflow task may take; both are well
# inside SQLite's busy timeout (30 s) and the local activities' own (workflows.hazard.LOCAL_TIMEOUT, 30 s).
TASK_TIMEOUT = timedelta(seconds=3)
LONG_HOLD_SECONDS = 8.0


async def test_a_projection_waiting_past_the_workflow_task_timeout_is_kept_alive_by_task_heartbeats(
    dev_env: WorkflowEnvironment, dev_worker: Worker, database_url: str
) -> None:
    """The projection and deadline scheduling are local activities, which cannot heartbeat as activities do. Their
    heartbeat is the workflow task's: while one runs past 80% of the task timeout, the SDK completes the task and
    asks for a new one, so a slow database delays the action but neither times the task out nor starts the
    projection again. (A worker that dies instead stops these beats, and the task times out and is retried.)"""
    path = PATHS["self_report_closed"]
    handle = await start(dev_env.client, path, dev_worker.task_queue, task_timeout=TASK_TIMEOUT)
    await eventually(handle, lambda s: s.version >= 1, "reported")
    step = path.steps[0]
    lock = sqlite3.connect(database_url.removeprefix("sqlite:///"), timeout=60, isolation_level=None)
    try:
        lock.execute("BEGIN IMMEDIATE")
        taken = time.time()
        action = asyncio.create_task(handle.execute_update(step.update, step.input()))
        await asyncio.sleep(LONG_HOLD_SECONDS)
        assert not action.done(), "the action finished while the read model was locked: nothing was tested"
        lock.execute("COMMIT")
        released = time.time()
    finally:
        lock.close()
    await action
    history = await handle.fetch_history()

    timed_out = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT]
    assert not timed_out, "a workflow task timed out while its projection waited on the lock"
    projections = [attempt for activity_type, attempt in attempts(history) if activity_type == "project_hazard"]
    assert len(projections) == 2, projections  # the report's, then the action's
    assert projections == [1, 1], "a projection was started again"
    beats = [
        e
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
        and taken < e.event_time.ToNanoseconds() / 1e9 < released
    ]
    # At 80% of 3 s for 8 s: about 3 beats; at least 2 shows it beat more than once.
    assert len(beats) >= 2, f"{len(beats)} workflow task completions while the projection waited"

    scale = f"write lock held {LONG_HOLD_SECONDS:g} s, workflow task timeout {TASK_TIMEOUT.total_seconds():g} s"
    record(2, "workflow task heartbeats while the projection waited", len(beats), scale=scale)
    record(2, "attempts of the waiting projection", projections[-1], scale=scale)
