"""Deadlines counted on the working-day calendar as the read model holds it: by the deadline activity, and by a
ledger import, which counts each row's first deadline before it starts the hazard (imports/runner.py)."""

import time
from collections import Counter
from collections.abc import Callable

import structlog
from sqlalchemy import Engine

from contracts.deadlines import Deadline, ScheduleDeadlineInput
from infra.metrics import DEADLINES_ON_FALLBACK
from readmodel import admin_queries
from scheduling import schedule_deadline
from workcalendar import WorkCalendar

log = structlog.get_logger("deadlines")

# A warning per unpublished year at most this often: in the weeks before next year's calendar is published, every
# deadline reaching into it counts on the fallback, and a line for each would bury the log (and cost a tenth of
# a ms apiece); the metric counts every one.
WARN_EVERY_SECONDS = 600.0


class CalendarReader:
    """The working-day calendar with the overrides entered in the read model."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._calendar = WorkCalendar()
        self._fields: tuple[admin_queries.OverrideFields, ...] = ()
        self._read_at: float | None = None

    def read(self) -> WorkCalendar:
        """The calendar with the overrides entered by now. It is kept while they stay the same, because a fresh one
        works each year's days out again (200 of the 570 µs a deadline took)."""
        with self._engine.connect() as conn:
            fields = admin_queries.calendar_override_fields(conn)
        self._read_at = time.monotonic()
        if fields != self._fields:
            self._calendar = WorkCalendar(map(admin_queries.year_override, fields))
            self._fields = fields
        return self._calendar

    def read_within(self, seconds: float) -> WorkCalendar | None:
        """The calendar of the last read, if that was less than `seconds` ago."""
        if self._read_at is None or time.monotonic() - self._read_at >= seconds:
            return None
        return self._calendar


class DeadlineCounter:
    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._warned_at: dict[int, float] = {}
        self._unwarned: Counter[int] = Counter()

    def count(self, input: ScheduleDeadlineInput, calendar: WorkCalendar) -> Deadline:
        """`scheduling.schedule_deadline`, saying when it had to count on the Monday-Friday fallback. Raises
        ValueError for an input no calendar can count (a rectification deadline without its date)."""
        deadline = schedule_deadline(input, calendar)
        for year in deadline.fallback_years:
            DEADLINES_ON_FALLBACK.labels(year=str(year)).inc()
            self._unwarned[year] += 1
        now = self._monotonic()
        due = [
            y
            for y in deadline.fallback_years
            if now - self._warned_at.get(y, now - WARN_EVERY_SECONDS) >= WARN_EVERY_SECONDS
        ]
        if due:
            log.warning(
                "deadlines counted on the Monday-Friday fallback: enter the official calendar for these years",
                fallback_years=due,
                # Per year, the deadlines counted on it since its last warning, this one included.
                deadlines=[self._unwarned.pop(y) for y in due],
                hazard_id=input.hazard_id,
                deadline_id=deadline.id,
            )
            self._warned_at.update(dict.fromkeys(due, now))
        return deadline
