"""The periodic reconciliation of the read model: one activity run per scheduled action (infra/schedules.py)."""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from contracts.reconcile import RECONCILE_ACTIVITY, RECONCILE_WORKFLOW_NAME, ReconcileInput, ReconcileReport


@workflow.defn(name=RECONCILE_WORKFLOW_NAME)
class ReconcileReadModelWorkflow:
    @workflow.run
    async def run(self, input: ReconcileInput) -> ReconcileReport:
        report: ReconcileReport = await workflow.execute_activity(
            RECONCILE_ACTIVITY,
            input,
            result_type=ReconcileReport,
            # The reconciler is idempotent: a retried run checks again from the start.
            start_to_close_timeout=timedelta(hours=1),
            heartbeat_timeout=timedelta(minutes=2),
            retry_policy=RetryPolicy(maximum_attempts=3),
            summary="reconcile the read model with the hazard workflows",
        )
        return report
