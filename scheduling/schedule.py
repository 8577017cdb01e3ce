"""One deadline and its escalation ladder, from the policy's rules and the working-day calendar.

Pure: the same input and calendar give the same deadline, to the second, whenever and wherever it runs.
"""

import hashlib
from datetime import date, datetime, time, timedelta

from contracts.deadlines import (
    DEADLINE_OWNERS,
    OFFICE_HOURS,
    OFFICE_OPENS_HOUR,
    Deadline,
    DeadlineKind,
    Owner,
    PolicyRules,
    Rung,
    ScheduleDeadlineInput,
    ScheduledRung,
)
from workcalendar import SHANGHAI, WorkCalendar, end_of_day, local_date

_OFFICE_SECONDS = OFFICE_HOURS * 3600

# The rung that tops each ladder 20 WD (by default) after the deadline: listing for an enterprise, a
# circular for a department. The committee office's own deadlines have no ladder above the overdue mark.
_TOP_RUNG: dict[Owner, Rung | None] = {
    Owner.ENTERPRISE: Rung.LISTING,
    Owner.DEPARTMENT: Rung.CIRCULAR,
    Owner.COMMITTEE_OFFICE: None,
}


def office_time(hazard_id: str, day: date) -> datetime:
    """The moment on `day` when this hazard's letters go out: the same minute for every rung of one hazard,
    spread across the office day between hazards, so thousands of timers do not fire at one instant."""
    digest = hashlib.sha256(hazard_id.encode()).digest()
    offset = int.from_bytes(digest[:8], "big") % _OFFICE_SECONDS
    return datetime.combine(day, time(OFFICE_OPENS_HOUR), tzinfo=SHANGHAI) + timedelta(seconds=offset)


class _Counter:
    """The calendar, remembering every year any step had to count on the Monday-Friday fallback."""

    def __init__(self, calendar: WorkCalendar) -> None:
        self._calendar = calendar
        self.fallback_years: set[int] = set()

    def add(self, day: date, n: int) -> date:
        result = self._calendar.add_workdays(day, n)
        self.fallback_years.update(result.fallback_years)
        return result.day


def _due_date(input: ScheduleDeadlineInput, counter: _Counter) -> date:
    if input.due_date is not None:
        # A fixed date that is a day off moves to the next working day: a deadline is always a working day.
        return counter.add(input.due_date, 0)
    start = local_date(input.start)
    rules = input.rules
    match input.kind:
        case DeadlineKind.VERIFY:
            return counter.add(start + timedelta(days=rules.verify_days), 0)
        case DeadlineKind.RECTIFY:
            raise ValueError("a rectification deadline needs the plan's due date")
        case DeadlineKind.PLAN:
            return counter.add(start, rules.plan_wd)
        case DeadlineKind.INTERIM_CONTROL:
            return counter.add(start, rules.interim_control_wd)
        case DeadlineKind.REVIEW:
            return counter.add(start, rules.review_wd)
        case DeadlineKind.EXTENSION_DECISION:
            return counter.add(start, rules.extension_decision_wd)
        case DeadlineKind.LISTING_PUBLICATION | DeadlineKind.DELISTING_PUBLICATION:
            return counter.add(start, rules.publication_wd)


def _ladder(owner: Owner, rules: PolicyRules) -> list[tuple[Rung, int]]:
    """Each rung after the overdue mark and how many working days after the due date it fires."""
    top = _TOP_RUNG[owner]
    if top is None:
        return []
    return [
        (Rung.NOTICE_LETTER, rules.notice_letter_wd_after),
        (Rung.SUMMONS, rules.summons_wd_after),
        (top, rules.listing_wd_after),
    ]


def schedule_deadline(input: ScheduleDeadlineInput, calendar: WorkCalendar) -> Deadline:
    counter = _Counter(calendar)
    owner = DEADLINE_OWNERS[input.kind]
    rules = input.rules
    due_date = _due_date(input, counter)
    due = end_of_day(due_date)

    rungs = [ScheduledRung(rung=Rung.OVERDUE, at=due, working_days_late=0)]
    reminder_at = office_time(input.hazard_id, counter.add(due_date, -rules.reminder_wd_before))
    # Too close a deadline gets no reminder: one sent before the clock started would remind of nothing.
    if reminder_at > input.start:
        rungs.append(ScheduledRung(rung=Rung.REMINDER, at=reminder_at, working_days_late=-rules.reminder_wd_before))
    for rung, late in _ladder(owner, rules):
        rungs.append(
            ScheduledRung(
                rung=rung, at=office_time(input.hazard_id, counter.add(due_date, late)), working_days_late=late
            )
        )
    rungs.sort(key=lambda r: r.at)

    extension_cutoff = None
    if owner is Owner.ENTERPRISE:
        extension_cutoff = end_of_day(counter.add(due_date, -rules.extension_min_wd_before))

    return Deadline(
        id=input.deadline_id,
        kind=input.kind,
        owner=owner,
        due_date=due_date,
        due=due,
        fallback_years=sorted(counter.fallback_years),
        extension_cutoff=extension_cutoff,
        rungs=rungs,
    )
