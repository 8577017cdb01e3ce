"""What opening a hazard writes into its history. A starter of today's version (ReportHazardInput.version) sets
the search attributes with the start, and the workflow takes its patches as given: neither an upsert of them nor
a patch marker. A starter from before the version gets both, as it always did. Either way the hazard is found by
the same search attributes and runs the same deadlines."""

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.common import TypedSearchAttributes
from temporalio.worker import Worker

from contracts.hazard import (
    SA_DEPARTMENT,
    SA_INDUSTRY,
    SA_NEXT_DEADLINE,
    SA_SOURCE,
    SA_STAGE,
    SA_STREET,
    WORKFLOW_VERSION,
    HazardState,
    ReportHazardInput,
    workflow_id,
)
from tests.conftest import new_hazard_id
from tests.scenarios import PATHS
from workflows.hazard import HazardWorkflow

PATH = PATHS["self_report_closed"]


async def opened(
    client: Client, task_queue: str, *, version: int
) -> tuple[WorkflowHandle[HazardWorkflow, HazardState], HazardState]:
    hazard_id = new_hazard_id()
    input = ReportHazardInput(hazard_id=hazard_id, actor=PATH.reporter, report=PATH.report(), version=version)
    handle = await client.start_workflow(
        HazardWorkflow.run,
        input,
        id=workflow_id(hazard_id),
        task_queue=task_queue,
        search_attributes=input.search_attributes() if version else TypedSearchAttributes.empty,
    )
    state = await handle.execute_update(HazardWorkflow.opened)
    return handle, state


async def opening_events(handle: WorkflowHandle[HazardWorkflow, HazardState]) -> list[tuple[EventType.ValueType, str]]:
    """The opening's events up to its first timer: each with its search attributes' names, or its marker's."""
    events = []
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_TIMER_STARTED:
            break
        names = sorted(event.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields)
        events.append((event.event_type, event.marker_recorded_event_attributes.marker_name or ",".join(names)))
    return events


@pytest.mark.parametrize("version", [0, WORKFLOW_VERSION], ids=["before-the-version", "todays-version"])
async def test_a_hazard_is_found_by_the_same_search_attributes_however_it_was_opened(
    version: int, time_env_client: Client, time_worker: Worker
) -> None:
    handle, state = await opened(time_env_client, time_worker.task_queue, version=version)
    report = PATH.report()
    assert state.next_deadline is not None
    found = (await handle.describe()).typed_search_attributes
    assert found.get(SA_STREET) == report.street
    assert found.get(SA_INDUSTRY) == report.industry.value
    assert found.get(SA_DEPARTMENT) == report.department
    assert found.get(SA_SOURCE) == report.source.value
    assert found.get(SA_STAGE) == state.stage.value
    assert found.get(SA_NEXT_DEADLINE) == state.next_deadline


async def test_todays_starter_opens_a_hazard_without_patch_markers_or_an_upsert_of_what_it_set(
    time_env_client: Client, time_worker: Worker
) -> None:
    upsert, marker = EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES, EventType.EVENT_TYPE_MARKER_RECORDED
    static = ",".join(sorted(key.name for key in (SA_STREET, SA_INDUSTRY, SA_DEPARTMENT, SA_SOURCE)))
    progress = ",".join(sorted(key.name for key in (SA_STAGE, SA_NEXT_DEADLINE)))

    before, _ = await opened(time_env_client, time_worker.task_queue, version=0)
    before_events = await opening_events(before)
    assert [e for e in before_events if e[0] == marker and e[1] == "core_patch"] == [(marker, "core_patch")] * 2
    assert (upsert, "TemporalChangeVersion") in before_events
    assert (upsert, static) in before_events

    today, _ = await opened(time_env_client, time_worker.task_queue, version=WORKFLOW_VERSION)
    today_events = await opening_events(today)
    assert [e for e in today_events if e[0] == upsert] == [(upsert, progress)]
    assert all(name != "core_patch" for _, name in today_events)
    # Two patch markers, their two upserts, and one of ours. Counted among the markers and upserts only: whether the
    # `opened` update reached the first workflow task or a later one changes the events around them.
    recorded = (upsert, marker)
    assert len([e for e in before_events if e[0] in recorded]) - len([e for e in today_events if e[0] in recorded]) == 5
