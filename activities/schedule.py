import structlog
from sqlalchemy import Engine
from sqlmodel import Session
from temporalio import activity
from temporalio.exceptions import ApplicationError

from contracts.deadlines import (
    LOAD_POLICY_ACTIVITY,
    SCHEDULE_DEADLINE_ACTIVITY,
    Deadline,
    LoadPolicyInput,
    LoadPolicyResult,
    ScheduleDeadlineInput,
)
from contracts.errors import ErrorType
from infra.metrics import DEADLINES_ON_FALLBACK
from readmodel import admin_queries
from scheduling import schedule_deadline
from workcalendar import WorkCalendar

log = structlog.get_logger("activities.schedule")


class ScheduleActivities:
    """Deadlines and policy for the workflows: read-only, so every method may run twice with one answer."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @activity.defn(name=SCHEDULE_DEADLINE_ACTIVITY)
    def schedule_deadline(self, input: ScheduleDeadlineInput) -> Deadline:
        # The calendar is read on every call: an override entered a minute ago counts from the next deadline.
        with Session(self._engine) as session:
            calendar = WorkCalendar(admin_queries.calendar_overrides(session=session))
        try:
            deadline = schedule_deadline(input, calendar)
        except ValueError as err:
            # The input itself is wrong (a rectification deadline without its date): no retry can fix it.
            raise ApplicationError(str(err), type=ErrorType.INVALID_PAYLOAD.value, non_retryable=True) from err
        if deadline.fallback_years:
            log.warning(
                "deadline counted on the Monday-Friday fallback: enter the official calendar for these years",
                hazard_id=input.hazard_id,
                deadline_id=deadline.id,
                kind=deadline.kind.value,
                fallback_years=deadline.fallback_years,
            )
            for year in deadline.fallback_years:
                DEADLINES_ON_FALLBACK.labels(year=str(year)).inc()
        return deadline

    @activity.defn(name=LOAD_POLICY_ACTIVITY)
    def load_policy(self, input: LoadPolicyInput) -> LoadPolicyResult:
        with Session(self._engine) as session:
            policy = admin_queries.current_policy(session=session)
        return LoadPolicyResult(version=policy.version, rules=policy.for_industry(input.industry))
