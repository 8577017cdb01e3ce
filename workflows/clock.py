"""The hazard workflow's clock: `workflow.now()`, refusing the stale time a worker can hand a run it cached for a query.

A worker that answers a query for a run it does not hold replays the run's history and keeps it. Asked again while
the run's next workflow task waits, it applies that task's events to the run it keeps with the time of the last
completed task (temporalio 1.35.0), and the real task goes on from there: a rung fired then is recorded, and
projected, with a time that a replay of the same history does not give. Such an activation is recognised as one
whose history grew while its time stood still, and it is failed: the query (or task) fails, the run leaves the
cache, and it is answered again from a full replay, which reads the right time. A replay never sees the stale
time, so it never fails a replayed task.
"""

from datetime import datetime

from temporalio import workflow

# How a refused task or query begins its message (infra/queries.py asks a refused query again).
STALE_CLOCK = "workflow time stood at"


class StaleClockError(RuntimeError):
    """Fails the activation (it is not a Temporal failure): a query fails, to be asked again (infra/queries.py), and
    a workflow task is retried on a fresh replay."""


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
