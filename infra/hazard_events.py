"""A hazard's whole event record from Temporal, across the runs continue-as-new chained (workflows/hazard.py): each
run holds its latest events and names the run before it, which holds the earlier ones."""

from datetime import timedelta

from temporalio.client import Client, WorkflowHandle

from contracts.hazard import HazardEvent, HazardEvents, HazardState, workflow_id
from infra.queries import answered
from workflows.hazard import HazardWorkflow


async def recorded_events(client: Client, hazard_id: str, *, rpc_timeout: timedelta | None = None) -> list[HazardEvent]:
    events: list[HazardEvent] = []
    run_id: str | None = None
    while True:
        handle = client.get_workflow_handle_for(HazardWorkflow.run, workflow_id(hazard_id), run_id=run_id)
        held = await _held(handle, rpc_timeout)
        first = events[0].seq if events else None
        events = [e for e in held.events if first is None or e.seq < first] + events
        if held.previous_run_id is None or (events and events[0].seq == 1):
            return events
        run_id = held.previous_run_id


async def _held(handle: WorkflowHandle[HazardWorkflow, HazardState], rpc_timeout: timedelta | None) -> HazardEvents:
    return await answered(lambda: handle.query(HazardWorkflow.get_events, rpc_timeout=rpc_timeout))
