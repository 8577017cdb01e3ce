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
from infra.deadline_counter import CalendarReader, DeadlineCounter
from readmodel import admin_queries


class ScheduleActivities:
    """Deadlines and policy for the workflows: read-only, so every method may run twice with one answer."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._calendar = CalendarReader(engine)
        self._counter = DeadlineCounter()

    @activity.defn(name=SCHEDULE_DEADLINE_ACTIVITY)
    def schedule_deadline(self, input: ScheduleDeadlineInput) -> Deadline:
        # The overrides are read on every call, so an override entered a minute ago counts from the next deadline.
        calendar = self._calendar.read()
        try:
            return self._counter.count(input, calendar)
        except ValueError as err:
            # The input itself is wrong (a rectification deadline without its date): no retry can fix it.
            raise ApplicationError(str(err), type=ErrorType.INVALID_PAYLOAD.value, non_retryable=True) from err

    @activity.defn(name=LOAD_POLICY_ACTIVITY)
    def load_policy(self, input: LoadPolicyInput) -> HazardPolicy:
        with Session(self._engine) as session:
            policy = admin_queries.current_policy(session=session)
        return policy.for_hazard(input.industry)
