from sqlalchemy import Engine
from temporalio import activity

from contracts.hazard import PROJECT_HAZARD_ACTIVITY, ProjectHazardInput, ProjectionResult
from readmodel.projection import write_projection


class ReadModelActivities:
    """Keeps the SQL read model in step with the workflows; every method may be delivered twice."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @activity.defn(name=PROJECT_HAZARD_ACTIVITY)
    def project_hazard(self, input: ProjectHazardInput) -> ProjectionResult:
        result = write_projection(self._engine, input.state, input.events)
        activity.logger.debug(
            "projected hazard %s v%d: %d new events, %d already present",
            input.state.hazard_id,
            input.state.version,
            result.events_inserted,
            result.events_already_present,
        )
        return result
