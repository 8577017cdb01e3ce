"""One periodic report (调度表 or quarterly report) as of a day: the day is settled here, the work done by one
activity. A scheduled run takes the day before its scheduled time, so a run that starts late (the server was
down, a catch-up) still reports on the day it was due for."""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from contracts.clock import china_date
    from contracts.errors import ErrorType
    from contracts.reports import (
        GENERATE_REPORT_ACTIVITY,
        REPORT_WORKFLOW,
        SA_SCHEDULED_BY,
        SA_SCHEDULED_START,
        GeneratedReport,
        GenerateReportInput,
        ReportInput,
        ReportTrigger,
        report_cutoff,
        scheduled_as_of,
    )

GENERATE_TIMEOUT = timedelta(minutes=10)
# Failures of the database or the file store are retried until they pass; bad input fails at once.
GENERATE_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=2))


def _invalid(message: str) -> ApplicationError:
    return ApplicationError(message, type=ErrorType.INVALID_PAYLOAD.value, non_retryable=True)


@workflow.defn(name=REPORT_WORKFLOW)
class ReportWorkflow:
    @workflow.run
    async def run(self, input: ReportInput) -> GeneratedReport:
        attributes = workflow.info().typed_search_attributes
        if input.as_of is None:
            scheduled = attributes.get(SA_SCHEDULED_START)
            if scheduled is None:
                raise _invalid("a report without as_of is taken by a schedule, and this run has no scheduled time")
            as_of = scheduled_as_of(scheduled)
            trigger = ReportTrigger.SCHEDULED
            requested_by = f"schedule:{attributes.get(SA_SCHEDULED_BY) or 'unknown'}"
        else:
            as_of = input.as_of
            if as_of > china_date(workflow.now()):
                raise _invalid(f"a report cannot be taken as of a day to come ({as_of.isoformat()})")
            trigger = ReportTrigger.REGENERATED
            requested_by = input.requested_by or "unknown"
        report: GeneratedReport = await workflow.execute_activity(
            GENERATE_REPORT_ACTIVITY,
            GenerateReportInput(
                kind=input.kind,
                trigger=trigger,
                as_of=as_of,
                cutoff=report_cutoff(as_of, workflow.now()),
                requested_by=requested_by,
            ),
            result_type=GeneratedReport,
            start_to_close_timeout=GENERATE_TIMEOUT,
            retry_policy=GENERATE_RETRY,
            summary=f"{input.kind.value} as of {as_of.isoformat()}",
        )
        return report
