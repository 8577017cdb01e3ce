"""Worker interceptors, registered in worker.build_worker."""

from typing import Any

import structlog
from temporalio import activity
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from infra.logging import hazard_of


class LogContextInterceptor(Interceptor):
    """Every log line an activity writes (local ones included) carries the workflow, run and activity it serves,
    and the hazard, so a worker's lines join the API's on `hazard_id`."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _ActivityLogContext(next)


class _ActivityLogContext(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        ids = {"workflow_id": info.workflow_id, "run_id": info.workflow_run_id, "activity": info.activity_type}
        hazard_id = hazard_of(info.workflow_id)
        if hazard_id is not None:
            ids["hazard_id"] = hazard_id
        # Bound before the SDK copies this context into the thread a sync activity runs in.
        with structlog.contextvars.bound_contextvars(**ids):
            return await self.next.execute_activity(input)
