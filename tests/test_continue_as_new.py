"""A hazard whose history grows without bound (rectifications rejected again and again) continues as new and keeps
every run in budget (issue 8, item 4): nothing of its record is lost across the hand-over, the read model holds
every event once, and a retried action that reaches the new run is answered as its first attempt was.

The marks are lowered for the test (monkeypatched in this process's worker): a handful of loops instead of the
hundred or more a real hazard would need before it reaches CONTINUE_AT_EVENTS.
"""

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

import workflows.hazard
from contracts.enums import ReviewDecision, Stage
from contracts.hazard import ActionResult, workflow_id
from infra.hazard_events import recorded_events
from readmodel.models import HazardEventRow
from tests.figures import record
from tests.keys import CONVERTER
from tests.scenarios import PATHS, Handle, Step, report_rectification, review, start
from workflows.hazard import HazardWorkflow

CONTINUE_AT = 60
LOOPS = 10


async def runs_of(env: WorkflowEnvironment, hazard_id: str) -> list[WorkflowHistory]:
    """Every run of the hazard's workflow, first to last."""
    histories: list[WorkflowHistory] = []
    run_id: str | None = None
    while True:
        handle = env.client.get_workflow_handle(workflow_id(hazard_id), run_id=run_id)
        history = await handle.fetch_history()
        histories.insert(0, history)
        started = history.events[0].workflow_execution_started_event_attributes
        if not started.continued_execution_run_id:
            return histories
        run_id = started.continued_execution_run_id


def accepted_ids(history: WorkflowHistory) -> set[str]:
    return {
        e.workflow_execution_update_accepted_event_attributes.accepted_request.meta.update_id
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
    }


async def send(handle: Handle, step: Step, update_id: str) -> ActionResult:
    result: ActionResult = await handle.execute_update(
        step.update, step.input(), id=update_id, result_type=ActionResult
    )
    return result


async def test_a_hazard_rejected_again_and_again_continues_as_new_and_loses_nothing(
    time_env: WorkflowEnvironment, time_worker: Worker, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(workflows.hazard, "CONTINUE_AT_EVENTS", CONTINUE_AT)
    path = PATHS["review_rejected_then_closed"]
    handle = await start(time_env.client, path, time_worker.task_queue)
    hazard_id = (await handle.query(HazardWorkflow.get_state)).hazard_id
    for number, step in enumerate(path.steps[:3]):
        await send(handle, step, f"{hazard_id}-setup-{number}")
    answers: dict[str, ActionResult] = {}
    for loop in range(LOOPS):
        for name, step in (("reject", review(ReviewDecision.REJECT)), ("again", report_rectification())):
            update_id = f"{hazard_id}-{name}-{loop}"
            answers[update_id] = await send(handle, step, update_id)

    histories = await runs_of(time_env, hazard_id)
    assert len(histories) >= 2, "the history passed the mark but the workflow never continued as new"
    # Each run stays near the mark: it continues at the first turn of its loop after passing it.
    assert max(len(h.events) for h in histories) < CONTINUE_AT + 40, [len(h.events) for h in histories]

    # A retry of an action the previous run took, reaching the new run: the first answer, no second event.
    current = histories[-1]
    held = (await handle.query(HazardWorkflow.get_events)).events
    retried = next(
        update_id
        for update_id, answer in answers.items()
        if update_id not in accepted_ids(current) and answer.event.seq >= held[0].seq
    )
    version = (await handle.query(HazardWorkflow.get_state)).version
    step = review(ReviewDecision.REJECT) if "-reject-" in retried else report_rectification()
    again = await send(handle, step, retried)
    assert again.event == answers[retried].event
    assert (await handle.query(HazardWorkflow.get_state)).version == version

    closed = await send(handle, review(ReviewDecision.APPROVE), f"{hazard_id}-approve")
    assert closed.state.stage is Stage.CLOSED
    final = await handle.result()
    assert final.stage is Stage.CLOSED
    expected = list(range(1, final.version + 1))
    assert final.version == 1 + 3 + 2 * LOOPS + 1
    assert final.rejection_count == LOOPS
    # The whole record, from the runs' chain and from the read model: every event once, in order.
    assert [e.seq for e in await recorded_events(time_env.client, hazard_id)] == expected
    with Session(engine) as session:
        rows = session.exec(
            select(HazardEventRow).where(HazardEventRow.hazard_id == hazard_id).order_by(col(HazardEventRow.id))
        ).all()
    assert [r.seq for r in rows] == expected

    # Every run, the continued ones included, replays on the code that made it.
    replayer = Replayer(workflows=[HazardWorkflow], data_converter=CONVERTER)
    for history in await runs_of(time_env, hazard_id):
        assert (await replayer.replay_workflow(history)).replay_failure is None

    scale = f"{LOOPS} rejection loops, continuing at {CONTINUE_AT} events"
    record(4, "runs the hazard continued into", len(histories), scale=scale)
    record(4, "largest run", max(len(h.events) for h in histories), "events", scale=scale)
    record(4, "events lost or doubled across the hand-over", 0, scale=scale)
