from datetime import UTC, datetime

import structlog
from sqlalchemy import Engine
from temporalio import activity

from contracts.enums import Action
from contracts.hazard import PROJECT_HAZARD_ACTIVITY, HazardEvent, ProjectHazardInput, ProjectionResult
from infra.metrics import ESCALATIONS, PROJECTION_LAG, STAGE_SECONDS, TRANSITIONS
from readmodel.projection import stage_entries, write_projection

log = structlog.get_logger("activities.read_model")


class ReadModelActivities:
    """Keeps the SQL read model in step with the workflows; every method may be delivered twice."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @activity.defn(name=PROJECT_HAZARD_ACTIVITY)
    def project_hazard(self, input: ProjectHazardInput) -> ProjectionResult:
        new_events: list[HazardEvent] = []
        result = write_projection(self._engine, input.state, input.events, new_events=new_events)
        count_new_events(self._engine, input.state.hazard_id, new_events, datetime.now(UTC))
        activity.logger.debug(
            "projected hazard %s v%d: %d new events, %d already present",
            input.state.hazard_id,
            input.state.version,
            result.events_inserted,
            result.events_already_present,
        )
        if result.events_already_present:
            # A redelivery (a worker died after writing, before its workflow task completed): absorbed, not doubled,
            # and the rows take the timestamps of the attempt Temporal keeps.
            log.info(
                "projection redelivered",
                events_already_present=result.events_already_present,
                events_replaced=result.events_replaced,
                row_written=result.row_written,
            )
        return result


def count_new_events(engine: Engine, hazard_id: str, events: list[HazardEvent], written_at: datetime) -> None:
    """The metrics of events whose rows were written just now (infra.metrics): each counted once, by the worker
    that wrote it, however often it is delivered."""
    entries: list[tuple[int, str, datetime]] | None = None
    for event in events:
        TRANSITIONS.labels(event.action.value).inc()
        if event.action is Action.ESCALATE and "rung" in event.payload:
            ESCALATIONS.labels(str(event.payload["rung"])).inc()
        # A workflow clock ahead of this one (the time-skipping test server) must not make it negative.
        PROJECTION_LAG.observe(max(0.0, (written_at - event.at).total_seconds()))
        left = event.stage_before
        if left is None or left is event.stage_after:
            continue
        if entries is None:
            entries = stage_entries(engine, hazard_id)
        entered = [at for seq, stage, at in entries if seq < event.seq and stage == left]
        # The row that entered it may be missing from a damaged read model: then there is nothing to measure.
        if entered:
            STAGE_SECONDS.labels(left.value).observe((event.at - entered[-1]).total_seconds())
