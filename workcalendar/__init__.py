"""Working days on the official Chinese calendar, pure enough for Temporal workflow code."""

from workcalendar.calendar import (
    SHANGHAI,
    CalendarSource,
    WorkCalendar,
    WorkdayCount,
    WorkdayResult,
    YearOverride,
    end_of_day,
    local_date,
)

__all__ = [
    "SHANGHAI",
    "CalendarSource",
    "WorkCalendar",
    "WorkdayCount",
    "WorkdayResult",
    "YearOverride",
    "end_of_day",
    "local_date",
]
