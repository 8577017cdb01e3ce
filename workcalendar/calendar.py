"""Working-day arithmetic on the official Chinese calendar, 调休 included.

Workflow code imports this module, so it stays pure: no I/O, no clock, no logging, no module-level state
that changes. Results computed on a year nobody has published say so in `fallback_years`; what to do about
it (log, metric, flag the deadline) is the caller's business.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass
from datetime import MAXYEAR, MINYEAR, date, datetime, time, timedelta
from enum import StrEnum
from typing import Self
from zoneinfo import ZoneInfo

import chinese_calendar
from pydantic import BaseModel, ConfigDict, Field, field_serializer, model_validator

# Workflow modules must import this package inside `workflow.unsafe.imports_passed_through()`: re-imported
# in the Temporal sandbox, `ZoneInfo` is a restricted proxy and datetime rejects it as a tzinfo.
SHANGHAI = ZoneInfo("Asia/Shanghai")

# The package's own tables: days off (weekends included) and make-up working days, keyed by date.
_BUILTIN_DAYS_OFF: Mapping[date, str] = chinese_calendar.holidays
_BUILTIN_WORKDAYS: Mapping[date, str] = chinese_calendar.workdays


class CalendarSource(StrEnum):
    BUILTIN = "builtin"
    OVERRIDE = "override"
    FALLBACK = "fallback"


class YearOverride(BaseModel):
    """One year of the official calendar (the State Council notice), entered by the committee office.

    It replaces whatever `chinese-calendar` knows about that year, so it must list the whole year: every day
    off that would otherwise be Monday-Friday, every make-up working day (调休) that would otherwise be a
    weekend. Weekend days off may be listed too (notices give whole closure periods); they change nothing.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    year: int = Field(ge=MINYEAR, le=MAXYEAR)
    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()
    # The notice or revision this table was entered from, so a deadline can be traced to its calendar.
    version: str | None = None

    @model_validator(mode="after")
    def _days_belong_to_the_year(self) -> Self:
        stray = sorted(d for d in self.holidays | self.workdays if d.year != self.year)
        if stray:
            raise ValueError(f"days outside {self.year}: {', '.join(map(str, stray))}")
        both = sorted(self.holidays & self.workdays)
        if both:
            raise ValueError(f"days both off and working: {', '.join(map(str, both))}")
        return self

    # Set order of dates depends on the process's hash seed; sorting keeps stored JSON stable and diffable.
    @field_serializer("holidays", "workdays")
    def _sorted(self, days: frozenset[date]) -> list[date]:
        return sorted(days)


@dataclass(frozen=True, slots=True)
class WorkdayResult:
    day: date
    # Years whose days were counted on the Monday-Friday fallback; a deadline built on them is provisional.
    fallback_years: tuple[int, ...] = ()

    @property
    def uses_fallback(self) -> bool:
        return bool(self.fallback_years)


@dataclass(frozen=True, slots=True)
class WorkdayCount:
    count: int
    fallback_years: tuple[int, ...] = ()

    @property
    def uses_fallback(self) -> bool:
        return bool(self.fallback_years)


@dataclass(frozen=True, slots=True)
class _Year:
    source: CalendarSource
    # Ordinals of the year's working days, ascending, so counting over a span is two bisections.
    workdays: tuple[int, ...]


class WorkCalendar:
    """The official calendar: an override table first, then `chinese-calendar`, then Monday-Friday."""

    __slots__ = ("_overrides", "_years")

    def __init__(self, overrides: Mapping[int, YearOverride] | Iterable[YearOverride] = ()) -> None:
        table: dict[int, YearOverride] = {}
        if isinstance(overrides, Mapping):
            for year, override in overrides.items():
                if year != override.year:
                    raise ValueError(f"override for {override.year} filed under {year}")
                table[year] = override
        else:
            for override in overrides:
                if override.year in table:
                    raise ValueError(f"two overrides for {override.year}")
                table[override.year] = override
        self._overrides = table
        # A memo of values derived from immutable inputs: filling it never changes a result, so it is safe
        # in workflow code and across replays.
        self._years: dict[int, _Year] = {}

    @property
    def overrides(self) -> tuple[YearOverride, ...]:
        """The table in year order, ready to serialise: `WorkCalendar(cal.overrides)` rebuilds it."""
        return tuple(self._overrides[year] for year in sorted(self._overrides))

    def source_of(self, year: int) -> CalendarSource:
        return self._year(year).source

    def is_workday(self, d: date) -> bool:
        days = self._year(d.year).workdays
        i = bisect_left(days, d.toordinal())
        return i < len(days) and days[i] == d.toordinal()

    def add_workdays(self, start: date, n: int) -> WorkdayResult:
        """The n-th working day after `start` (before it if n < 0); n == 0 is the first working day on or
        after `start`. The day itself is never counted when n != 0: a plan due 5 WD after a report on D is
        `add_workdays(D, 5)`."""
        if n > 0:
            return self._forward(start + timedelta(days=1), n)
        if n == 0:
            return self._forward(start, 1)
        return self._backward(start - timedelta(days=1), -n)

    def workdays_between(self, a: date, b: date) -> WorkdayCount:
        """Working days in (a, b]; negative, counting (b, a], when b < a."""
        if b < a:
            reverse = self.workdays_between(b, a)
            return WorkdayCount(-reverse.count, reverse.fallback_years)
        if a == b:
            return WorkdayCount(0)
        lo, hi = a.toordinal(), b.toordinal()
        count = 0
        fallback: list[int] = []
        for year in range((a + timedelta(days=1)).year, b.year + 1):
            data = self._year(year)
            if data.source is CalendarSource.FALLBACK:
                fallback.append(year)
            count += bisect_right(data.workdays, hi) - bisect_right(data.workdays, lo)
        return WorkdayCount(count, tuple(fallback))

    def _forward(self, first: date, k: int) -> WorkdayResult:
        """The k-th working day on or after `first`."""
        lo = first.toordinal()
        year = first.year
        fallback: list[int] = []
        while True:
            data = self._year(year)
            if data.source is CalendarSource.FALLBACK:
                fallback.append(year)
            i = bisect_left(data.workdays, lo)
            available = len(data.workdays) - i
            if k <= available:
                return WorkdayResult(date.fromordinal(data.workdays[i + k - 1]), tuple(fallback))
            k -= available
            year += 1
            if year > MAXYEAR:
                raise OverflowError("working day beyond date.max")

    def _backward(self, last: date, k: int) -> WorkdayResult:
        """The k-th working day on or before `last`, counting back."""
        hi = last.toordinal()
        year = last.year
        fallback: list[int] = []
        while True:
            data = self._year(year)
            if data.source is CalendarSource.FALLBACK:
                fallback.append(year)
            available = bisect_right(data.workdays, hi)
            if k <= available:
                return WorkdayResult(date.fromordinal(data.workdays[available - k]), tuple(reversed(fallback)))
            k -= available
            year -= 1
            if year < MINYEAR:
                raise OverflowError("working day before date.min")

    def _year(self, year: int) -> _Year:
        data = self._years.get(year)
        if data is None:
            data = self._years[year] = self._build_year(year)
        return data

    def _build_year(self, year: int) -> _Year:
        days_off: Container[date]
        days_on: Container[date]
        override = self._overrides.get(year)
        if override is not None:
            source, days_off, days_on = CalendarSource.OVERRIDE, override.holidays, override.workdays
        elif _builtin_knows(year):
            source, days_off, days_on = CalendarSource.BUILTIN, _BUILTIN_DAYS_OFF, _BUILTIN_WORKDAYS
        else:
            source, days_off, days_on = CalendarSource.FALLBACK, frozenset(), frozenset()
        first, last = date(year, 1, 1).toordinal(), date(year, 12, 31).toordinal()
        workdays = tuple(
            o
            for o in range(first, last + 1)
            if (d := date.fromordinal(o)) in days_on or (d.weekday() < 5 and d not in days_off)
        )
        return _Year(source, workdays)


def _builtin_knows(year: int) -> bool:
    # The package raises for any year outside its data; asking it keeps us right when it is upgraded.
    try:
        chinese_calendar.is_workday(date(year, 1, 1))
    except NotImplementedError:
        return False
    return True


def end_of_day(d: date) -> datetime:
    """The instant a deadline on day `d` expires: the last microsecond of `d` in Beijing time."""
    return datetime.combine(d, time.max, tzinfo=SHANGHAI)


def local_date(dt: datetime) -> date:
    """The Beijing calendar date of an instant (e.g. `workflow.now()`, which is UTC)."""
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError("local_date needs a timezone-aware datetime")
    return dt.astimezone(SHANGHAI).date()
