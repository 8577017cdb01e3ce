from sqlalchemy import Engine
from temporalio import activity

from contracts.reconcile import RECONCILE_ACTIVITY, ReconcileInput, ReconcileReport
from readmodel.reconcile import Progress, reconcile


class ReconcileActivities:
    """Runs the read-model reconciler from the worker, with the worker's own Temporal client."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @activity.defn(name=RECONCILE_ACTIVITY)
    async def reconcile_read_model(self, input: ReconcileInput) -> ReconcileReport:
        def beat(progress: Progress) -> None:
            # Keeps the heartbeat timeout from declaring a long run dead; the SDK throttles the calls.
            activity.heartbeat(progress.phase, progress.done, progress.total)

        report = await reconcile(activity.client(), self._engine, input, progress=beat)
        activity.logger.info(
            "read model reconciled: %d workflows, %d drift found, %d left unhealed, %d errors",
            report.workflows,
            report.drift,
            report.unhealed,
            len(report.errors),
        )
        return report
