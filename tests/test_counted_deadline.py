"""An imported hazard's first deadline, counted by the importer (imports.runner.counted_first_deadline): the workflow
arms it without counting it again when it was counted from what the workflow would count it from, and counts it
itself otherwise. Either way it arms the deadline the calendar gives."""

from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session
from temporalio.client import Client
from temporalio.worker import Worker

from contracts.clock import CHINA_TZ, china_date
from contracts.deadlines import SCHEDULE_DEADLINE_ACTIVITY, CountedDeadline, Deadline
from contracts.enums import Stage
from contracts.hazard import (
    PROJECT_HAZARD_ACTIVITY,
    WORKFLOW_VERSION,
    HazardState,
    ImportedHazard,
    ReportHazardInput,
    workflow_id,
)
from imports.runner import counted_first_deadline
from infra.deadline_counter import CalendarReader, DeadlineCounter
from readmodel import admin_queries
from tests.attempts import attempts
from tests.conftest import new_hazard_id
from tests.scenarios import COMMITTEE, plan, report
from workflows.hazard import HazardWorkflow


def imported_in_rectify(engine: Engine) -> ReportHazardInput:
    """A ledger row in 整改, found three weeks ago, due in forty days: every rung of its ladder is still to come."""
    hazard_id = new_hazard_id()
    found = datetime.now(CHINA_TZ) - timedelta(days=21)
    due = china_date(datetime.now(CHINA_TZ)) + timedelta(days=40)
    imported = ImportedHazard(stage=Stage.RECTIFY, key=hazard_id, file_sha256="0" * 64, row=4, plan=plan(deadline=due))
    with Session(engine) as session:
        policy = admin_queries.current_policy(session=session).for_hazard(report().industry)
    return ReportHazardInput(
        hazard_id=hazard_id,
        actor=COMMITTEE,
        report=report(found_at=found),
        imported=imported,
        policy=policy,
        version=WORKFLOW_VERSION,
    )


async def open_imported(client: Client, task_queue: str, input: ReportHazardInput) -> tuple[HazardState, list[str]]:
    """The opened hazard's state, and the activities its opening ran."""
    handle = await client.start_workflow(
        HazardWorkflow.run,
        input,
        id=workflow_id(input.hazard_id),
        task_queue=task_queue,
        search_attributes=input.search_attributes(),
    )
    state = await handle.execute_update(HazardWorkflow.opened)
    return state, [activity for activity, _ in attempts(await handle.fetch_history())]


def counted_for(input: ReportHazardInput, engine: Engine) -> CountedDeadline:
    """The deadline the importer counts for this row, on the read model's calendar."""
    counted = counted_first_deadline(input, DeadlineCounter(), CalendarReader(engine).read())
    assert counted is not None
    return counted


def as_armed(deadline: Deadline) -> Deadline:
    """A counted deadline as the workflow arms it: named after its due date."""
    return deadline.model_copy(update={"id": f"{deadline.kind.value}-{deadline.due_date.isoformat()}"})


async def test_a_deadline_counted_by_the_importer_is_armed_without_counting_it_again(
    time_env_client: Client, time_worker: Worker, engine: Engine
) -> None:
    input = imported_in_rectify(engine)
    input.counted_deadline = counted = counted_for(input, engine)

    state, activities = await open_imported(time_env_client, time_worker.task_queue, input)

    assert activities == [PROJECT_HAZARD_ACTIVITY]
    assert state.deadlines == [as_armed(counted.deadline)]
    assert state.next_deadline == counted.deadline.due


async def test_without_a_counted_deadline_the_workflow_counts_the_same_one(
    time_env_client: Client, time_worker: Worker, engine: Engine
) -> None:
    input = imported_in_rectify(engine)
    counted = counted_for(input, engine)

    state, activities = await open_imported(time_env_client, time_worker.task_queue, input)

    assert activities == [SCHEDULE_DEADLINE_ACTIVITY, PROJECT_HAZARD_ACTIVITY]
    assert state.deadlines == [as_armed(counted.deadline)]


async def test_a_deadline_counted_from_anything_else_is_counted_again(
    time_env_client: Client, time_worker: Worker, engine: Engine
) -> None:
    """A starter that counted from other dates or rules (a bug, or a ledger edited between) does not decide the
    hazard's deadline: the workflow counts its own, and the counted one is dropped."""
    input = imported_in_rectify(engine)
    calendar = CalendarReader(engine).read()
    counted = counted_for(input, engine)
    assert counted.schedule.due_date is not None
    elsewhere = counted.schedule.model_copy(update={"due_date": counted.schedule.due_date + timedelta(days=7)})
    input.counted_deadline = CountedDeadline(schedule=elsewhere, deadline=DeadlineCounter().count(elsewhere, calendar))

    state, activities = await open_imported(time_env_client, time_worker.task_queue, input)

    assert activities == [SCHEDULE_DEADLINE_ACTIVITY, PROJECT_HAZARD_ACTIVITY]
    assert state.deadlines == [as_armed(counted.deadline)]


def test_rows_without_a_deadline_to_count_get_none(engine: Engine) -> None:
    calendar = CalendarReader(engine).read()
    input = imported_in_rectify(engine)
    assert input.imported is not None
    closed = input.model_copy(
        update={
            "imported": input.imported.model_copy(
                update={"stage": Stage.CLOSED, "closed_on": input.report.found_at.date()}
            )
        }
    )
    assert counted_first_deadline(closed, DeadlineCounter(), calendar) is None
    assert counted_first_deadline(input.model_copy(update={"policy": None}), DeadlineCounter(), calendar) is None
    assert counted_first_deadline(input.model_copy(update={"imported": None}), DeadlineCounter(), calendar) is None
