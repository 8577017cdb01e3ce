"""Every action that is illegal in a stage, by a role, or with bad data is refused before it reaches history.

On the real dev server, which drops the speculative workflow task of a rejected update (the time-skipping test
server keeps those tasks): "no trace" is checked as "nothing recorded but workflow-task bookkeeping".
"""

from datetime import date

import pytest
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from contracts.enums import Action, InterimControlKind, ReviewDecision, Stage
from contracts.errors import ErrorType
from contracts.hazard import ActionResult, Actor, ConfirmInterimControlInput, InterimControl, SubmitPlanInput
from tests.conftest import settled_history
from tests.scenarios import (
    AUDITOR,
    ENTERPRISE,
    INSPECTOR,
    PATHS,
    STREET,
    Handle,
    Step,
    confirm_control,
    plan,
    report_rectification,
    review,
    revoke,
    start,
    submit_plan,
    verify,
)
from workflows.lifecycle import STAGES_FOR

# Every action, each with legal data and a legal actor: only the stage can make it illegal.
ALL_ACTIONS: dict[Action, Step] = {
    Action.VERIFY: verify(True),
    Action.SUBMIT_PLAN: submit_plan(),
    Action.CONFIRM_INTERIM_CONTROL: confirm_control(),
    Action.REPORT_RECTIFICATION: report_rectification(),
    Action.REVIEW: review(ReviewDecision.APPROVE),
    Action.REVOKE: revoke(),
}

# How to bring a fresh hazard to each open stage.
REACH: dict[Stage, tuple[str, int]] = {
    Stage.VERIFY: ("tip_off_unfounded", 0),
    Stage.PLAN: ("self_report_closed", 0),
    Stage.INTERIM_CONTROL: ("self_report_closed", 1),
    Stage.RECTIFY: ("self_report_closed", 2),
    Stage.REVIEW: ("self_report_closed", 3),
}


async def hazard_in(stage: Stage, client: Client, task_queue: str) -> Handle:
    name, steps = REACH[stage]
    path = PATHS[name]
    handle = await start(client, path, task_queue)
    for step in path.steps[:steps]:
        await handle.execute_update(step.update, step.input(), result_type=ActionResult)
    return handle


def as_actor(step: Step, actor: Actor) -> Step:
    return Step(step.update, lambda: step.input().model_copy(update={"actor": actor}))


async def refused(handle: Handle, step: Step) -> ApplicationError:
    with pytest.raises(WorkflowUpdateFailedError) as failed:
        await handle.execute_update(step.update, step.input(), result_type=ActionResult)
    assert isinstance(failed.value.cause, ApplicationError)
    return failed.value.cause


@pytest.mark.parametrize("stage", list(REACH))
async def test_actions_illegal_in_a_stage_leave_no_trace(
    stage: Stage, dev_env: WorkflowEnvironment, dev_worker: Worker
) -> None:
    handle = await hazard_in(stage, dev_env.client, dev_worker.task_queue)
    before = await settled_history(dev_env.client, handle.id)
    illegal = [action for action in Action if action in ALL_ACTIONS and stage not in STAGES_FOR[action]]
    assert illegal
    for action in illegal:
        error = await refused(handle, ALL_ACTIONS[action])
        assert error.type == ErrorType.STAGE_CONFLICT
        assert error.details[0]["stage"] == stage.value
    assert await settled_history(dev_env.client, handle.id) == before
    state = await handle.query("get_state", result_type=dict)
    assert state["stage"] == stage.value


async def test_wrong_roles_and_bad_data_leave_no_trace(dev_env: WorkflowEnvironment, dev_worker: Worker) -> None:
    handle = await hazard_in(Stage.PLAN, dev_env.client, dev_worker.task_queue)
    before = await settled_history(dev_env.client, handle.id)
    for actor in (INSPECTOR, STREET, AUDITOR):
        assert (await refused(handle, as_actor(submit_plan(), actor))).type == ErrorType.ROLE_FORBIDDEN
    assert (await refused(handle, as_actor(revoke(), ENTERPRISE))).type == ErrorType.ROLE_FORBIDDEN
    late = Step("submit_plan", lambda: SubmitPlanInput(actor=ENTERPRISE, plan=plan(deadline=date(2020, 1, 1))))
    error = await refused(handle, late)
    assert error.type == ErrorType.INVALID_PAYLOAD
    assert error.details[0]["field"] == "deadline"
    assert await settled_history(dev_env.client, handle.id) == before

    await handle.execute_update("submit_plan", SubmitPlanInput(actor=ENTERPRISE, plan=plan()), result_type=ActionResult)
    before = await settled_history(dev_env.client, handle.id)
    no_order = Step(
        "confirm_interim_control",
        lambda: ConfirmInterimControlInput(
            actor=INSPECTOR, control=InterimControl(kind=InterimControlKind.SUSPENSION, measures="停产整顿")
        ),
    )
    error = await refused(handle, no_order)
    assert error.type == ErrorType.INVALID_PAYLOAD
    assert error.details[0]["field"] == "suspension_order_no"
    assert await settled_history(dev_env.client, handle.id) == before


async def test_the_reporter_of_a_rectification_cannot_review_it(
    dev_env: WorkflowEnvironment, dev_worker: Worker
) -> None:
    handle = await start(dev_env.client, PATHS["rectified_on_spot_closed"], dev_worker.task_queue)
    before = await settled_history(dev_env.client, handle.id)
    self_review = as_actor(review(ReviewDecision.APPROVE), INSPECTOR)
    assert (await refused(handle, self_review)).type == ErrorType.MAKER_CHECKER
    assert await settled_history(dev_env.client, handle.id) == before
