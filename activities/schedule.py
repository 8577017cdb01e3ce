import structlog
from sqlalchemy import Engine
from sqlmodel import Session
from temporalio import activity
from temporalio.exceptions import ApplicationError

from contracts.deadlines import (
    LOAD_POLICY_ACTIVITY,
    SCHEDULE_DEADLINE_ACTIVITY,
    Deadline,
    HazardPolicy,
    LoadPolicyInput,
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
        self._calendar = WorkCalendar()

    def _current_calendar(self) -> WorkCalendar:
        """The calendar with the overrides entered by now. They are read on every call, so an override entered a
        minute ago counts from the next deadline; the calendar is kept while they stay the same, because a fresh
        one works each year's days out again (200 of the 570 µs a call took)."""
        with Session(self._engine) as session:
            overrides = tuple(admin_queries.calendar_overrides(session=session))
        calendar = self._calendar
        if calendar.overrides != overrides:
            calendar = self._calendar = WorkCalendar(overrides)
        return calendar

    @activity.defn(name=SCHEDULE_DEADLINE_ACTIVITY)
    def schedule_deadline(self, input: ScheduleDeadlineInput) -> Deadline:
        calendar = self._current_calendar()
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
    def load_policy(self, input: LoadPolicyInput) -> HazardPolicy:
        with Session(self._engine) as session:
            policy = admin_queries.current_policy(session=session)
        return policy.for_hazard(input.industry)
