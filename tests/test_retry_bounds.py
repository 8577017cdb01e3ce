"""No retry storms (issue 8, item 2): 50 hazards act and climb the escalation ladder at once while another
connection keeps taking the read model's write lock for a second at a time, and still no activity needs more
than 3 attempts.

The bounds come from the worker (8 activity and 8 local-activity slots, one thread pool of 8: a burst queues
rather than piling onto the database) and from SQLite's busy timeout (30 s), under which a writer waits for the
lock instead of failing its attempt. Attempts are read from the histories Temporal recorded: the `attempt` of
each started activity, and of each local activity's marker (the projection and deadline scheduling run as local
activities, which Temporal cannot heartbeat; the escalation activity heartbeats).
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
