"""The worst realistic hazard stays within Temporal's history budget (issue 8, item 4).

Temporal warns at 10,240 events or 10 MB of history and refuses a payload over 2 MB (256 KB is the limit we
hold ourselves to). The worst hazard we expect: every rung of every ladder climbs (the plan's to the automatic
挂牌督办, the department's to 通报), two extensions, 20 rejected reviews, every rectification citing 50 evidence
files, 摘牌 and both publications. Evidence files themselves live in the evidence store; history holds their
"sha256:<hex>" references.

Rejection loops are bounded by nobody: each adds a fixed number of events and bytes, measured here, so the
loop count that would break the budget is a figure too.
"""

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pytest
from google.protobuf.message import Message
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from contracts.deadlines import DeadlineKind, Rung
from contracts.enums import PublicationOf, ReviewDecision, Stage
from tests.figures import record
from tests.history_scenarios import (
    DEPARTMENT_LADDER,
    PLAN_LADDER,
    PUBLICATION_LADDER,
    Move,
    Run,
    Scenario,
    act,
    decide_extension,
    lapse,
    plan_due_in,
    publish,
    report_hazard,
    report_rectification_with,
    request_extension,
)
from tests.scenarios import ENTERPRISE, confirm_control, delist, report, review, submit_plan
from workflows.hazard import HazardWorkflow

MAX_EVENTS = 10_240
MAX_HISTORY_BYTES = 10 * 1024 * 1024
MAX_PAYLOAD_BYTES = 256 * 1024
PAYLOAD = "temporal.api.common.v1.Payload"


@dataclass(frozen=True)
class Size:
    events: int
    bytes: int


def size_of(events: Sequence[HistoryEvent]) -> Size:
    """Events and their serialized size, as the server stores them (payloads as the codec encrypted them)."""
    return Size(len(events), sum(e.ByteSize() for e in events))


def payloads(message: Message) -> Iterator[Message]:
    """Every Payload anywhere in `message`: inputs, results, marker details, headers, search attributes."""
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        if isinstance(value, Message):
            values = [value]
        elif field.message_type.GetOptions().map_entry:
            values = [v for v in value.values() if isinstance(v, Message)]
        else:
            values = list(value)
        for item in values:
            if item.DESCRIPTOR.full_name == PAYLOAD:
                yield item
            else:
                yield from payloads(item)


@dataclass(frozen=True)
class Worst:
    """The worst hazard's moves: up to the end of the first rejection loop, each further loop, then to 销号."""

    first: list[Move]
    loops: list[list[Move]]
    last: list[Move]


def worst_hazard(loops: int, evidence: int) -> Worst:
    rectified = act(report_rectification_with(evidence))
    rejected = act(review(ReviewDecision.REJECT))
    first = [
        lapse(DeadlineKind.PLAN, *PLAN_LADDER),  # the last rung lists the hazard (挂牌督办)
        lapse(DeadlineKind.LISTING_PUBLICATION, *PUBLICATION_LADDER),
        publish(PublicationOf.LISTING),
        plan_due_in(90),
        # Already listed: the listing rung only marks itself fired.
        lapse(DeadlineKind.INTERIM_CONTROL, Rung.OVERDUE, Rung.NOTICE_LETTER, Rung.SUMMONS, Rung.LISTING),
        act(confirm_control()),
        request_extension(120),
        lapse(DeadlineKind.EXTENSION_DECISION, *DEPARTMENT_LADDER),
        act(decide_extension(True)),
        request_extension(100),
        act(decide_extension(False)),
        lapse(DeadlineKind.RECTIFY, *PLAN_LADDER),
        # The first loop's review is late too: the department's ladder up to 通报.
        rectified,
        lapse(DeadlineKind.REVIEW, *DEPARTMENT_LADDER),
        rejected,
    ]
    last = [
        rectified,
        act(delist()),
        act(review(ReviewDecision.APPROVE)),
        lapse(DeadlineKind.DELISTING_PUBLICATION, *PUBLICATION_LADDER),
        publish(PublicationOf.DELISTING),
    ]
    return Worst(first, [[rectified, rejected] for _ in range(loops - 1)], last)


LOOPS = 20
EVIDENCE = 50
SCALE = f"{LOOPS} rejection loops, {EVIDENCE} evidence files"


async def events_answer_bytes(run: Run) -> int:
    """The size of the hazard's event log as `get_events` answers it (the reconciler's and evidence checks' source):
    held in workflow memory, and what a continue-as-new would have to carry."""
    return len((await run.handle.query(HazardWorkflow.get_events)).model_dump_json())


async def test_the_worst_realistic_hazard_stays_within_the_history_budget(
    time_env: WorkflowEnvironment, time_worker: Worker
) -> None:
    worst = worst_hazard(LOOPS, EVIDENCE)
    scenario = Scenario(ENTERPRISE, report, [], Stage.CLOSED)
    handle = await report_hazard(time_env.client, scenario, time_worker.task_queue, "BUDGET-worst")
    run = Run(time_env, handle)
    for move in worst.first:
        await move(run)
    first, first_log = size_of((await handle.fetch_history()).events), await events_answer_bytes(run)
    for loop in worst.loops:
        for move in loop:
            await move(run)
    last, last_log = size_of((await handle.fetch_history()).events), await events_answer_bytes(run)
    for move in worst.last:
        await move(run)
    final = await handle.result()
    events = (await handle.fetch_history()).events
    total = size_of(events)

    # The hazard really was the worst one: otherwise a small history would prove nothing.
    assert final.stage is Stage.CLOSED
    assert final.rejection_count == LOOPS
    assert {e.rung for e in final.escalations} == {
        Rung.REMINDER,
        Rung.NOTICE_LETTER,
        Rung.SUMMONS,
        Rung.LISTING,
        Rung.CIRCULAR,
    }
    # Every deadline a self-reported hazard can have (it is never verified) climbed its ladder.
    assert {e.deadline_kind for e in final.escalations} == set(DeadlineKind) - {DeadlineKind.VERIFY}
    assert [e.decision.approve for e in final.extensions if e.decision] == [True, False]
    assert final.listing is not None
    assert final.listing.delisting_published_on is not None
    assert final.rectification is not None
    assert len(final.rectification.evidence) == EVIDENCE

    largest, where = max((p.ByteSize(), EventType.Name(e.event_type)) for e in events for p in payloads(e))
    record(4, "history events of the worst realistic hazard", total.events, scale=SCALE)
    record(4, "history size of the worst realistic hazard", round(total.bytes / 1024), "KiB", scale=SCALE)
    record(4, "largest payload", largest, f"bytes ({where})", scale=SCALE)
    assert total.events < MAX_EVENTS
    assert total.bytes < MAX_HISTORY_BYTES
    assert largest < MAX_PAYLOAD_BYTES

    # Nothing bounds rejection loops, and each adds about the same to history (a rectification reported, a review
    # rejecting it): the loop count at which a hazard would break the budget if it never continued as new.
    further = LOOPS - 1
    # Rounded up: a workflow task the server happens to add in one loop counts against every loop.
    per_loop = Size(math.ceil((last.events - first.events) / further), math.ceil((last.bytes - first.bytes) / further))
    rest = Size(total.events - LOOPS * per_loop.events, total.bytes - LOOPS * per_loop.bytes)
    by_events = math.ceil((MAX_EVENTS - rest.events) / per_loop.events)
    by_bytes = math.ceil((MAX_HISTORY_BYTES - rest.bytes) / per_loop.bytes)
    log_per_loop = (last_log - first_log) // further
    record(4, "history events per rejection loop", per_loop.events, scale=SCALE)
    record(4, "history bytes per rejection loop", per_loop.bytes, "bytes", scale=SCALE)
    record(4, "rejection loops that would pass 10,240 events", by_events, scale=SCALE)
    record(4, "rejection loops that would pass 10 MB", by_bytes, scale=SCALE)
    record(4, "event log (get_events) per rejection loop", log_per_loop, "bytes", scale=SCALE)
    record(4, "rejection loops that would pass 256 KB of event log", MAX_PAYLOAD_BYTES // log_per_loop, scale=SCALE)
    assert min(by_events, by_bytes) > LOOPS


UNENDING = 400


@pytest.mark.reliability
async def test_rejection_loops_without_end_stay_within_the_history_budget(
    time_env: WorkflowEnvironment, time_worker: Worker
) -> None:
    """Rejection loops have no limit in the policy: a hazard that loops on stays in budget by continuing as new
    (workflows/hazard.py, CONTINUE_AT_EVENTS / CONTINUE_AT_BYTES); every run's history is checked as it grows."""
    scenario = Scenario(ENTERPRISE, report, [], Stage.CLOSED)
    handle = await report_hazard(time_env.client, scenario, time_worker.task_queue, "BUDGET-unending")
    run = Run(time_env, handle)
    rectified = act(report_rectification_with(EVIDENCE))
    for move in [act(submit_plan()), act(confirm_control())]:
        await move(run)
    for n in range(1, UNENDING + 1):
        await rectified(run)
        await act(review(ReviewDecision.REJECT))(run)
        if n % 10 == 0:
            # The current run's history: a hazard continued as new starts a new, short one.
            size = size_of((await handle.fetch_history()).events)
            if size.events >= MAX_EVENTS or size.bytes >= MAX_HISTORY_BYTES:
                record(4, "rejection loops that passed the budget (measured)", n, scale=f"{EVIDENCE} evidence files")
            assert size.events < MAX_EVENTS
            assert size.bytes < MAX_HISTORY_BYTES
    runs = 1
    run_id = (await handle.describe()).run_id
    while True:
        history = await time_env.client.get_workflow_handle(handle.id, run_id=run_id).fetch_history()
        previous = history.events[0].workflow_execution_started_event_attributes.continued_execution_run_id
        if not previous:
            break
        runs, run_id = runs + 1, previous
    assert runs > 1, "the loops never passed the mark at which the workflow continues as new"
    scale = f"{UNENDING} rejection loops citing {EVIDENCE} evidence files"
    record(4, "runs the unending hazard continued into (every run in budget)", runs, scale=scale)
