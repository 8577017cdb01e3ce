"""The service's Temporal schedules, kept as they are declared here: `ensure_schedules` creates each one or brings
an existing one to its declared spec and action (its paused state, an operator's call, is kept).

To add a schedule, add one entry to SCHEDULES.
"""

from dataclasses import dataclass, replace
from datetime import timedelta

from pydantic import BaseModel
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from contracts.hazard import TASK_QUEUE
from contracts.reconcile import RECONCILE_HOUR, RECONCILE_SCHEDULE_ID, RECONCILE_WORKFLOW_NAME, ReconcileInput
from contracts.reports import (
    DISPATCH_DAYS,
    QUARTER_MONTHS,
    REPORT_HOUR,
    REPORT_TIME_ZONE,
    REPORT_WORKFLOW,
    ReportInput,
    ReportKind,
    schedule_id,
)

# A run missed while the server was down is still taken within this window: it reports on the day it was due
# for (the workflow reads its scheduled time), so a late run has the same numbers as a punctual one.
CATCHUP_WINDOW = timedelta(days=14)
RUN_TIMEOUT = timedelta(hours=1)


@dataclass(frozen=True)
class ScheduledWorkflow:
    """One schedule: which workflow it starts with which input, and when."""

    id: str
    workflow: str
    input: BaseModel
    spec: ScheduleSpec
    note: str

    def schedule(self, task_queue: str) -> Schedule:
        return Schedule(
            action=ScheduleActionStartWorkflow(
                self.workflow,
                self.input,
                # The server appends each run's scheduled time: one workflow id per run.
                id=self.id,
                task_queue=task_queue,
                execution_timeout=RUN_TIMEOUT,
            ),
            spec=self.spec,
            policy=SchedulePolicy(catchup_window=CATCHUP_WINDOW),
            state=ScheduleState(note=self.note),
        )


def china_calendar(*, days: tuple[int, ...], months: tuple[int, ...] | None = None) -> ScheduleSpec:
    """At REPORT_HOUR:00 on these days of these months (of every month when None), Asia/Shanghai time."""
    calendar = ScheduleCalendarSpec(
        day_of_month=[ScheduleRange(day) for day in days],
        month=[ScheduleRange(month) for month in months] if months else [ScheduleRange(1, 12)],
        hour=[ScheduleRange(REPORT_HOUR)],
    )
    return ScheduleSpec(calendars=[calendar], time_zone_name=REPORT_TIME_ZONE)


SCHEDULES: tuple[ScheduledWorkflow, ...] = (
    *(
        ScheduledWorkflow(
            id=schedule_id(kind),
            workflow=REPORT_WORKFLOW,
            input=ReportInput(kind=kind),
            spec=china_calendar(days=DISPATCH_DAYS),
            note=f"{kind.label}：每月12日、28日留存快照（截至前一日）",
        )
        for kind in (ReportKind.DISPATCH_STREET, ReportKind.DISPATCH_DEPARTMENT)
    ),
    ScheduledWorkflow(
        id=schedule_id(ReportKind.QUARTERLY),
        workflow=REPORT_WORKFLOW,
        input=ReportInput(kind=ReportKind.QUARTERLY),
        spec=china_calendar(days=(1,), months=QUARTER_MONTHS),
        note="季度报告：每季度首日留存上一季度报告",
    ),
    ScheduledWorkflow(
        id=RECONCILE_SCHEDULE_ID,
        workflow=RECONCILE_WORKFLOW_NAME,
        input=ReconcileInput(),
        spec=ScheduleSpec(
            calendars=[ScheduleCalendarSpec(hour=[ScheduleRange(RECONCILE_HOUR)])], time_zone_name=REPORT_TIME_ZONE
        ),
        note="读模型核对：每日凌晨比对隐患工作流与读模型，修复偏差",
    ),
)


async def ensure_schedules(
    client: Client, *, task_queue: str = TASK_QUEUE, schedules: tuple[ScheduledWorkflow, ...] = SCHEDULES
) -> None:
    """Create every schedule, or update the one already there to its declared spec: safe to call on every start."""
    for entry in schedules:
        desired = entry.schedule(task_queue)
        try:
            await client.create_schedule(entry.id, desired)
        except ScheduleAlreadyRunningError:

            def update(current: ScheduleUpdateInput, desired: Schedule = desired) -> ScheduleUpdate:
                # Paused or not, and why, is the operator's call: the state stays as it is.
                return ScheduleUpdate(schedule=replace(desired, state=current.description.schedule.state))

            await client.get_schedule_handle(entry.id).update(update)
