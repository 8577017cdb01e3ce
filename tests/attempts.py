"""What Temporal recorded of activity attempts: read from histories, so a test can bound or count retries."""

import json

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory


def attempts(history: WorkflowHistory) -> list[tuple[str, int]]:
    """(activity type, attempt) of every activity attempt the history recorded, local ones included."""
    found: list[tuple[str, int]] = []
    scheduled: dict[int, str] = {}
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            scheduled[event.event_id] = event.activity_task_scheduled_event_attributes.activity_type.name
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            started = event.activity_task_started_event_attributes
            found.append((scheduled[started.scheduled_event_id], started.attempt))
        elif event.marker_recorded_event_attributes.marker_name == "core_local_activity":
            data = event.marker_recorded_event_attributes.details["data"].payloads[0].data
            marker = json.loads(data)
            found.append((marker["activity_type"], marker["attempt"]))
    return found
