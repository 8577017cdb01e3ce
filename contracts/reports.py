"""The periodic reports' contract: kinds, inputs and outputs, and the instant a report counts up to.

A report is "截至 X月X日": it counts everything recorded up to the end of day X (China). A scheduled run is
taken at 01:00 on the schedule's day, as of the day before: that day is over, every event of it is recorded, and
the same report regenerated later from the event history has the same numbers.
"""

from datetime import date, datetime, timedelta
from enum import StrEnum

from pydantic import AwareDatetime, Field
from temporalio.common import SearchAttributeKey

from contracts.base import Model, Text
from contracts.clock import china_date
from contracts.enums import Role
from contracts.hazard import TASK_QUEUE
from workcalendar import end_of_day

# Reports run beside the hazards: one worker fleet, one queue.
REPORT_TASK_QUEUE = TASK_QUEUE
REPORT_WORKFLOW = "ReportWorkflow"
GENERATE_REPORT_ACTIVITY = "generate_report"

# Schedules take the table on the 12th and the 28th of each month, and the quarterly report on the first day
# of each quarter, at this time of day in Asia/Shanghai.
REPORT_TIME_ZONE = "Asia/Shanghai"
DISPATCH_DAYS = (12, 28)
QUARTER_MONTHS = (1, 4, 7, 10)
REPORT_HOUR = 1

# Set by the server on every run a schedule starts: when it was due (before any catch-up delay), and by whom.
SA_SCHEDULED_START = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")
SA_SCHEDULED_BY = SearchAttributeKey.for_keyword("TemporalScheduledById")


class ReportKind(StrEnum):
    DISPATCH_STREET = "dispatch_street"
    DISPATCH_DEPARTMENT = "dispatch_department"
    QUARTERLY = "quarterly"

    @property
    def label(self) -> str:
        return REPORT_LABELS[self]


REPORT_LABELS: dict[ReportKind, str] = {
    ReportKind.DISPATCH_STREET: "调度表（街道填报）",
    ReportKind.DISPATCH_DEPARTMENT: "调度表（部门填报）",
    ReportKind.QUARTERLY: "季度报告",
}


class ReportTrigger(StrEnum):
    SCHEDULED = "scheduled"  # taken by a Temporal schedule
    REGENERATED = "regenerated"  # asked for by the committee office, as of a past day (or today so far)


# Who may read and download snapshots. A snapshot is one file for the whole district, and it holds only counts
# per street, department and industry (no hazard, enterprise or person): the district circulates these tables to
# every street and department, so they read all of it. Enterprises have no part in them.
REPORT_READERS = frozenset({Role.COMMITTEE_OFFICE, Role.DEPARTMENT, Role.STREET, Role.AUDITOR})
# Who may regenerate one as of a past day: the office that owns the reporting.
REPORT_REGENERATORS = frozenset({Role.COMMITTEE_OFFICE})


def schedule_id(kind: ReportKind) -> str:
    return f"report-{kind.value}"


def regeneration_workflow_id(kind: ReportKind, as_of: date) -> str:
    """One regeneration per report and day at a time: a second request joins the running one."""
    return f"report-{kind.value}-{as_of.isoformat()}-regenerated"


def scheduled_as_of(scheduled_at: datetime) -> date:
    """A scheduled run reports on the day before the one it runs on (China)."""
    return china_date(scheduled_at) - timedelta(days=1)


def report_cutoff(as_of: date, now: datetime) -> datetime:
    """The instant a report "截至 as_of" counts up to: the end of that day, or now while the day lasts."""
    return min(end_of_day(as_of), now)


def quarter_start(day: date) -> date:
    return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def quarter_number(day: date) -> int:
    return (day.month - 1) // 3 + 1


class ReportInput(Model):
    """A report to take. Without `as_of` it is a scheduled run, as of the day before its scheduled time."""

    kind: ReportKind
    as_of: date | None = None
    requested_by: Text | None = Field(default=None, description="who asked for a regeneration (user id)")


class GenerateReportInput(Model):
    kind: ReportKind
    trigger: ReportTrigger
    as_of: date
    cutoff: AwareDatetime = Field(description="the instant the figures are as of")
    requested_by: Text


class GeneratedReport(Model):
    snapshot_id: int
    sha256: str
    created: bool = Field(description="false when this run had already been taken (the first one stands)")
