"""A deadline clock for tests on a real server, which cannot skip to the working days where rungs fire: a hazard whose
id starts with LATE has its plan clock started 60 days before it was reported, so the whole plan ladder (提醒, 函告,
约谈, 挂牌督办) is already due and climbs at once, through the real escalation activity."""

from datetime import timedelta

from temporalio import activity

from activities.schedule import ScheduleActivities
from contracts.deadlines import SCHEDULE_DEADLINE_ACTIVITY, Deadline, DeadlineKind, ScheduleDeadlineInput

LATE = "LATE-"
PLAN_CLOCK_SHIFT = timedelta(days=60)


class LateClock(ScheduleActivities):
    """The real deadline arithmetic; a LATE- hazard's plan clock started 60 days before it was reported."""

    @activity.defn(name=SCHEDULE_DEADLINE_ACTIVITY)
    def schedule_deadline(self, input: ScheduleDeadlineInput) -> Deadline:
        if input.kind is DeadlineKind.PLAN and input.hazard_id.startswith(LATE):
            input = input.model_copy(update={"start": input.start - PLAN_CLOCK_SHIFT})
        return super().schedule_deadline(input)
