"""The real worker for the crash loop (tests/test_crash_loop.py), with two test-only twists.

XIAOHAO_TEST_DIE_AFTER_WRITES=N: the process SIGKILLs itself right after its Nth projection write, before the
workflow task that asked for it completes. That is the window the projection's idempotency exists for; random
kills from outside hit it only now and then, this hits it every time.

Hazards whose id starts with LATE- have their plan clock started 60 days early (tests/late_clock.py), so their
escalation ladder climbs at once, inside the crash loop. XIAOHAO_TEST_DIE_AFTER_ESCALATIONS=N: the process
SIGKILLs itself right after its Nth escalation committed (文号, letter and outbox row), before the activity reports
it: the window in which a retried attempt must find its rung issued, not issue it again.

--plain-insert: the projection inserts events plainly, as a naive implementation would (the negative control),
into a read model whose events table lacks the (hazard, seq) key.
"""

import asyncio
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, insert
from sqlmodel import SQLModel

import activities.read_model
import worker
from activities.escalation import EscalationActivities
from contracts.deadlines import EscalationRecord, IssueEscalationInput
from contracts.hazard import HazardEvent, HazardState, ProjectionResult
from readmodel.models import HazardEventRow
from readmodel.projection import event_row, write_projection
from tests.late_clock import LateClock


def plain_projection(engine: Engine, state: HazardState, events: list[HazardEvent], **options: Any) -> ProjectionResult:
    table = SQLModel.metadata.tables[HazardEventRow.__tablename__]
    if events:
        with engine.begin() as conn:
            conn.execute(insert(table).values([event_row(state.hazard_id, e) for e in events]))
    new_events = options.get("new_events")
    if new_events is not None:
        new_events.extend(events)
    written = write_projection(engine, state, [])
    return ProjectionResult(events_inserted=len(events), events_already_present=0, row_written=written.row_written)


def fuse(calls: int) -> Callable[[], None]:
    """A function that SIGKILLs this process on its `calls`th call."""
    done = 0

    def burn() -> None:
        nonlocal done
        done += 1
        if done >= calls:
            os.kill(os.getpid(), signal.SIGKILL)

    return burn


def dying_after(writes: int, write: Any) -> Any:
    burn = fuse(writes)

    def projection(*args: Any, **options: Any) -> ProjectionResult:
        result: ProjectionResult = write(*args, **options)
        burn()
        return result

    return projection


def escalations_dying_after(escalations: int) -> type[EscalationActivities]:
    burn = fuse(escalations)

    class DyingEscalations(EscalationActivities):
        def _issue(self, input: IssueEscalationInput, working_days_late: int) -> EscalationRecord:
            record = super()._issue(input, working_days_late)
            burn()
            return record

    return DyingEscalations


if __name__ == "__main__":
    write = plain_projection if "--plain-insert" in sys.argv else write_projection
    if writes := int(os.environ.get("XIAOHAO_TEST_DIE_AFTER_WRITES", "0")):
        write = dying_after(writes, write)
    activities.read_model.write_projection = write  # type: ignore[attr-defined]
    worker.ScheduleActivities = LateClock  # type: ignore[attr-defined]
    if escalations := int(os.environ.get("XIAOHAO_TEST_DIE_AFTER_ESCALATIONS", "0")):
        worker.EscalationActivities = escalations_dying_after(escalations)  # type: ignore[attr-defined]
    asyncio.run(worker.main())
