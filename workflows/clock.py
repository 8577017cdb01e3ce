"""The hazard workflow's clock: `workflow.now()`, refusing the stale time a worker can hand a run it cached for a query.

A worker that answers a query for a run it does not hold replays the run's history and keeps it. The next workflow
task for that run (temporalio 1.35.0) can reach the workflow with the time of the last completed task, not of its
own: a rung fired then is recorded, and projected, with a time that a replay of the same history does not give.
Such a task is recognised as one whose history grew while its time stood still, and it is failed: its run leaves
the cache, and the task runs again from a full replay, which reads the right time. A replay never sees the stale
time, so it never fails a replayed task.
"""

from datetime import datetime

from temporalio import workflow

# How a refused task or query begins its message (infra/queries.py asks a refused query again).
STALE_CLOCK = "workflow time stood at"


class StaleClockError(RuntimeError):
    """Fails the workflow task (it is not a Temporal failure), which Temporal retries on a fresh replay."""


class WorkflowClock:
    def __init__(self) -> None:
        # The history length and time of the last read: a new workflow task lengthens the history and moves time on.
        self._last: tuple[int, datetime] | None = None

    def now(self) -> datetime:
        now = workflow.now()
        length = workflow.info().get_current_history_length()
        last, self._last = self._last, (length, now)
        if last is not None and length > last[0] and now == last[1] and not workflow.unsafe.is_replaying():
            raise StaleClockError(
                f"{STALE_CLOCK} {now.isoformat()} while the history grew from {last[0]} to {length} events:"
                " the task runs again from a full replay"
            )
        return now
