import time as clock
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from workcalendar import (
    CalendarSource,
    WorkCalendar,
    WorkdayCount,
    WorkdayResult,
    YearOverride,
    end_of_day,
    local_date,
)

D = date.fromisoformat
PLAIN = WorkCalendar()
NEW_YEAR_2027 = YearOverride(
    year=2027,
    holidays=frozenset({D("2027-01-01")}),
    workdays=frozenset(),
    version="test notice 2027",
)
WITH_2027 = WorkCalendar([NEW_YEAR_2027])


# Golden Week 2025: 10-01..10-08 off, Sunday 09-28 and Saturday 10-11 worked.


def test_golden_week_2025_make_up_sunday_is_next_workday() -> None:
    assert PLAIN.add_workdays(D("2025-09-26"), 1) == WorkdayResult(D("2025-09-28"))


def test_golden_week_2025_skips_the_holiday() -> None:
    assert PLAIN.add_workdays(D("2025-09-30"), 1) == WorkdayResult(D("2025-10-09"))
    # 10-09, 10-10, 10-11 (Saturday, worked), 10-13, 10-14; Monday-Friday would give 10-07.
    assert PLAIN.add_workdays(D("2025-09-30"), 5).day == D("2025-10-14")


def test_golden_week_2025_flags() -> None:
    for day in ("2025-09-28", "2025-10-11", "2025-09-30", "2025-10-09"):
        assert PLAIN.is_workday(D(day)), day
    for day in ("2025-09-27", "2025-10-01", "2025-10-06", "2025-10-08", "2025-10-12"):
        assert not PLAIN.is_workday(D(day)), day
    assert PLAIN.source_of(2025) is CalendarSource.BUILTIN


def test_golden_week_2025_counts() -> None:
    # (09-26, 10-11]: 09-28, 09-29, 09-30, 10-09, 10-10, 10-11.
    assert PLAIN.workdays_between(D("2025-09-26"), D("2025-10-11")) == WorkdayCount(6)
    assert PLAIN.workdays_between(D("2025-10-11"), D("2025-09-26")) == WorkdayCount(-6)
    assert PLAIN.workdays_between(D("2025-09-30"), D("2025-10-08")).count == 0


def test_golden_week_2025_backwards() -> None:
    assert PLAIN.add_workdays(D("2025-10-09"), -1).day == D("2025-09-30")
    # Reminder 3 WD before a deadline on Monday 10-13: 10-11, 10-10, 10-09.
    assert PLAIN.add_workdays(D("2025-10-13"), -3).day == D("2025-10-09")
    assert PLAIN.add_workdays(D("2025-09-29"), -1).day == D("2025-09-28")


def test_zero_workdays_is_the_day_itself_or_the_next_workday() -> None:
    assert PLAIN.add_workdays(D("2025-09-30"), 0).day == D("2025-09-30")
    assert PLAIN.add_workdays(D("2025-10-03"), 0).day == D("2025-10-09")
    assert PLAIN.add_workdays(D("2025-09-27"), 0).day == D("2025-09-28")


# Spring Festival 2026 as the package has it: 02-15..02-23 off, Saturdays 02-14 and 02-28 worked.


def test_spring_festival_2026_from_the_package() -> None:
    assert PLAIN.source_of(2026) is CalendarSource.BUILTIN
    assert PLAIN.add_workdays(D("2026-02-13"), 1) == WorkdayResult(D("2026-02-14"))
    assert PLAIN.add_workdays(D("2026-02-14"), 1) == WorkdayResult(D("2026-02-24"))
    # 02-24..02-27 and Saturday 02-28.
    assert PLAIN.workdays_between(D("2026-02-13"), D("2026-02-28")) == WorkdayCount(6)
    assert PLAIN.add_workdays(D("2026-02-24"), -1).day == D("2026-02-14")


# New Year 2027: the package stops at 2026.


def test_new_year_2027_on_the_fallback_is_flagged() -> None:
    assert PLAIN.source_of(2027) is CalendarSource.FALLBACK
    result = PLAIN.add_workdays(D("2026-12-31"), 1)
    # 2027-01-01 is a Friday, so Monday-Friday counts it.
    assert result == WorkdayResult(D("2027-01-01"), (2027,))
    assert result.uses_fallback
    assert PLAIN.workdays_between(D("2026-12-30"), D("2027-01-04")) == WorkdayCount(3, (2027,))
    assert PLAIN.add_workdays(D("2027-01-04"), -2) == WorkdayResult(D("2026-12-31"), (2027,))


def test_fallback_is_reported_only_for_years_actually_counted() -> None:
    assert PLAIN.add_workdays(D("2026-12-28"), 3) == WorkdayResult(D("2026-12-31"))
    assert PLAIN.add_workdays(D("2026-12-31"), 0) == WorkdayResult(D("2026-12-31"))
    assert PLAIN.workdays_between(D("2026-12-01"), D("2026-12-31")).fallback_years == ()
    # Going back from 2027-01-01 counts only 2026 days.
    assert PLAIN.add_workdays(D("2027-01-01"), -1) == WorkdayResult(D("2026-12-31"))
    assert PLAIN.add_workdays(D("2027-12-31"), 3) == WorkdayResult(D("2028-01-05"), (2028,))
    assert PLAIN.workdays_between(D("2026-06-01"), D("2029-01-02")).fallback_years == (2027, 2028, 2029)


def test_new_year_2027_with_a_published_override() -> None:
    assert WITH_2027.source_of(2027) is CalendarSource.OVERRIDE
    assert WITH_2027.add_workdays(D("2026-12-31"), 1) == WorkdayResult(D("2027-01-04"))
    assert WITH_2027.workdays_between(D("2026-12-30"), D("2027-01-04")) == WorkdayCount(2)
    assert not WITH_2027.is_workday(D("2027-01-01"))
    assert PLAIN.is_workday(D("2027-01-01"))


def test_override_make_up_weekend_is_a_workday() -> None:
    cal = WorkCalendar(
        [YearOverride(year=2027, holidays=frozenset({D("2027-01-01")}), workdays=frozenset({D("2027-01-02")}))]
    )
    assert cal.add_workdays(D("2026-12-31"), 1) == WorkdayResult(D("2027-01-02"))
    assert cal.add_workdays(D("2026-12-31"), 2).day == D("2027-01-04")


def test_override_replaces_the_package_for_its_year() -> None:
    package_days_off = frozenset(d for d in chinese_calendar.holidays if d.year == 2026)
    package_workdays = frozenset(d for d in chinese_calendar.workdays if d.year == 2026)
    corrected = WorkCalendar(
        {
            2026: YearOverride(
                year=2026,
                holidays=package_days_off | {D("2026-02-24")},
                workdays=package_workdays,
                version="correction",
            )
        }
    )
    assert corrected.source_of(2026) is CalendarSource.OVERRIDE
    assert corrected.add_workdays(D("2026-02-14"), 1) == WorkdayResult(D("2026-02-25"))
    assert PLAIN.add_workdays(D("2026-02-14"), 1) == WorkdayResult(D("2026-02-24"))
    # The rest of 2026 is untouched by the correction.
    assert corrected.add_workdays(D("2026-09-30"), 1) == PLAIN.add_workdays(D("2026-09-30"), 1)

    # An empty override means exactly Monday-Friday for that year, without the package's holidays.
    bare = WorkCalendar([YearOverride(year=2026)])
    assert bare.is_workday(D("2026-02-16"))
    assert not bare.is_workday(D("2026-02-14"))
    assert bare.add_workdays(D("2026-02-13"), 1) == WorkdayResult(D("2026-02-16"))


def test_override_for_a_year_before_the_package() -> None:
    assert PLAIN.source_of(2003) is CalendarSource.FALLBACK
    cal = WorkCalendar([YearOverride(year=2003, holidays=frozenset({D("2003-10-01")}))])
    assert cal.source_of(2003) is CalendarSource.OVERRIDE
    assert cal.add_workdays(D("2003-09-30"), 1) == WorkdayResult(D("2003-10-02"))
    assert PLAIN.add_workdays(D("2003-09-30"), 1) == WorkdayResult(D("2003-10-01"), (2003,))


def test_override_rejects_days_outside_its_year() -> None:
    with pytest.raises(ValidationError, match="days outside 2027: 2026-12-31"):
        YearOverride(year=2027, holidays=frozenset({D("2026-12-31")}))


def test_override_rejects_a_day_both_off_and_working() -> None:
    with pytest.raises(ValidationError, match="both off and working: 2027-01-02"):
        YearOverride(year=2027, holidays=frozenset({D("2027-01-02")}), workdays=frozenset({D("2027-01-02")}))


def test_calendar_rejects_ambiguous_tables() -> None:
    with pytest.raises(ValueError, match="two overrides for 2027"):
        WorkCalendar([NEW_YEAR_2027, YearOverride(year=2027)])
    with pytest.raises(ValueError, match="override for 2027 filed under 2028"):
        WorkCalendar({2028: NEW_YEAR_2027})


def test_override_json_round_trip_is_stable() -> None:
    override = YearOverride(
        year=2027,
        holidays=frozenset({D("2027-02-10"), D("2027-01-01"), D("2027-02-08")}),
        workdays=frozenset({D("2027-02-06")}),
        version="国办发明电〔2026〕1号",
    )
    text = override.model_dump_json()
    assert '"holidays":["2027-01-01","2027-02-08","2027-02-10"]' in text
    assert YearOverride.model_validate_json(text) == override

    table = TypeAdapter(tuple[YearOverride, ...])
    cal = WorkCalendar([override, NEW_YEAR_2027.model_copy(update={"year": 2028, "holidays": frozenset()})])
    rebuilt = WorkCalendar(table.validate_json(table.dump_json(cal.overrides)))
    assert rebuilt.overrides == cal.overrides
    assert [o.year for o in rebuilt.overrides] == [2027, 2028]
    assert rebuilt.add_workdays(D("2026-12-31"), 1) == WorkdayResult(D("2027-01-04"))


def test_override_is_immutable() -> None:
    with pytest.raises(ValidationError, match="frozen"):
        NEW_YEAR_2027.year = 2028  # type: ignore[misc]


def test_end_of_day_is_the_last_microsecond_in_beijing() -> None:
    deadline = end_of_day(D("2025-10-09"))
    assert deadline.utcoffset() == timedelta(hours=8)
    assert deadline == datetime(2025, 10, 9, 15, 59, 59, 999999, tzinfo=UTC)
    assert deadline.astimezone(ZoneInfo("Asia/Shanghai")).date() == D("2025-10-09")


def test_local_date_is_the_beijing_date() -> None:
    assert local_date(datetime(2025, 9, 30, 15, 59, 59, tzinfo=UTC)) == D("2025-09-30")
    assert local_date(datetime(2025, 9, 30, 16, 0, tzinfo=UTC)) == D("2025-10-01")
    with pytest.raises(ValueError, match="timezone-aware"):
        local_date(datetime(2025, 9, 30, 16, 0))


def test_a_year_of_workdays_costs_microseconds() -> None:
    cal = WorkCalendar()
    cal.add_workdays(D("2025-03-01"), 365)
    begin = clock.perf_counter()
    for _ in range(1000):
        cal.add_workdays(D("2025-03-01"), 365)
    # A generous bound (about 1 ms per call) so a loaded machine does not fail it; measured about 5 us.
    assert clock.perf_counter() - begin < 1.0


# Properties, over years the package knows, years on the fallback and years with a random override.


@st.composite
def override_years(draw: st.DrawFn) -> YearOverride:
    year = draw(st.integers(2025, 2028))
    days = st.dates(date(year, 1, 1), date(year, 12, 31))
    holidays = draw(st.frozensets(days, max_size=40))
    workdays = draw(st.frozensets(days, max_size=10)) - holidays
    return YearOverride(year=year, holidays=holidays, workdays=workdays)


calendars = st.one_of(st.just(PLAIN), st.just(WITH_2027), override_years().map(lambda o: WorkCalendar([o])))
starts = st.dates(date(2003, 6, 1), date(2029, 6, 1))
counts = st.integers(1, 400)


@given(calendars, starts, st.integers(-400, 400))
def test_result_is_a_workday_on_the_right_side(cal: WorkCalendar, start: date, n: int) -> None:
    day = cal.add_workdays(start, n).day
    assert cal.is_workday(day)
    if n > 0:
        assert day > start
    elif n < 0:
        assert day < start
    else:
        assert day >= start
        assert cal.workdays_between(start - timedelta(days=1), day - timedelta(days=1)).count == 0


@given(calendars, starts, st.integers(-400, 399))
def test_add_workdays_is_strictly_monotonic(cal: WorkCalendar, start: date, n: int) -> None:
    this, following = cal.add_workdays(start, n).day, cal.add_workdays(start, n + 1).day
    if n == 0 and not cal.is_workday(start):
        # Both are the first working day after a day off: n == 0 rounds up, n == 1 counts it.
        assert this == following
    else:
        assert this < following


@given(calendars, starts, counts)
def test_between_counts_what_add_added(cal: WorkCalendar, start: date, n: int) -> None:
    result = cal.add_workdays(start, n)
    between = cal.workdays_between(start, result.day)
    assert between.count == n
    assert between.fallback_years == result.fallback_years
    assert cal.workdays_between(result.day, start).count == -n


@given(calendars, starts, counts)
def test_back_and_forth(cal: WorkCalendar, start: date, n: int) -> None:
    first_on_or_after = cal.add_workdays(start, 0).day
    assert cal.add_workdays(cal.add_workdays(start, -n).day, n).day == first_on_or_after
    assert cal.add_workdays(cal.add_workdays(first_on_or_after, n).day, -n).day == first_on_or_after


@given(calendars, starts, st.integers(-60, 60))
def test_between_matches_counting_day_by_day(cal: WorkCalendar, a: date, offset: int) -> None:
    b = a + timedelta(days=offset)
    lo, hi = min(a, b), max(a, b)
    span = [lo + timedelta(days=i) for i in range(1, (hi - lo).days + 1)]
    expected = sum(cal.is_workday(d) for d in span)
    result = cal.workdays_between(a, b)
    assert result.count == (expected if b >= a else -expected)
    fallback = sorted({d.year for d in span if cal.source_of(d.year) is CalendarSource.FALLBACK})
    assert result.fallback_years == tuple(fallback)


@given(calendars, starts, st.integers(-400, 400))
def test_fallback_years_are_those_counted_on_monday_to_friday(cal: WorkCalendar, start: date, n: int) -> None:
    result = cal.add_workdays(start, n)
    if n > 0:
        first, last = start + timedelta(days=1), result.day
    elif n == 0:
        first, last = start, result.day
    else:
        first, last = result.day, start - timedelta(days=1)
    years = range(first.year, last.year + 1)
    assert result.fallback_years == tuple(y for y in years if cal.source_of(y) is CalendarSource.FALLBACK)


@given(st.dates(date(2004, 1, 1), date(2026, 12, 31)))
def test_builtin_years_agree_with_the_package(d: date) -> None:
    assert PLAIN.is_workday(d) == chinese_calendar.is_workday(d)


@given(st.dates(date(2027, 1, 1), date(2040, 12, 31)) | st.dates(date(1990, 1, 1), date(2003, 12, 31)))
def test_unknown_years_are_monday_to_friday(d: date) -> None:
    assert PLAIN.is_workday(d) == (d.weekday() < 5)


@given(override_years(), st.integers(0, 364))
def test_override_decides_every_day_of_its_year(override: YearOverride, offset: int) -> None:
    d = date(override.year, 1, 1) + timedelta(days=offset)
    expected = d in override.workdays or (d.weekday() < 5 and d not in override.holidays)
    assert WorkCalendar([override]).is_workday(d) == expected


@given(st.dates(date(2000, 1, 1), date(2040, 12, 31)))
def test_local_date_of_end_of_day_is_the_day(d: date) -> None:
    deadline = end_of_day(d)
    assert local_date(deadline) == d
    assert local_date(deadline + timedelta(microseconds=1)) == d + timedelta(days=1)
