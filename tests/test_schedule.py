"""Deadlines and ladders on the official calendar: the pure function, then the activity on a real read model.

Expected dates are counted by hand from the State Council's notices, not by calling the calendar.
"""

from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import REGISTRY
from sqlalchemy import Engine
from sqlmodel import Session
from structlog.testing import capture_logs
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.schedule import ScheduleActivities
from contracts.deadlines import (
    OFFICE_HOURS,
    OFFICE_OPENS_HOUR,
    Deadline,
    DeadlineKind,
    HazardPolicy,
    LoadPolicyInput,
    Owner,
    PolicyRules,
    Rung,
    ScheduleDeadlineInput,
)
from contracts.enums import Industry
from infra.deadline_counter import WARN_EVERY_SECONDS, DeadlineCounter
from readmodel import admin_queries
from scheduling import office_time, schedule_deadline
from workcalendar import SHANGHAI, WorkCalendar, YearOverride, end_of_day, local_date

D = date.fromisoformat
PLAIN = WorkCalendar()
NEW_YEAR_2027 = YearOverride(year=2027, holidays=frozenset({D("2027-01-01")}), version="test notice 2027")
WITH_2027 = WorkCalendar([NEW_YEAR_2027])
DEFAULTS = PolicyRules()
LETTER_RUNGS = (Rung.NOTICE_LETTER, Rung.SUMMONS, Rung.LISTING, Rung.CIRCULAR)


def at(day: str, hour: int = 10) -> datetime:
    return datetime.combine(D(day), time(hour), tzinfo=SHANGHAI)


def schedule(
    kind: DeadlineKind,
    start: datetime,
    *,
    due_date: date | None = None,
    rules: PolicyRules = DEFAULTS,
    calendar: WorkCalendar = PLAIN,
    hazard_id: str = "120104-2025-00001",
) -> Deadline:
    payload = ScheduleDeadlineInput(
        hazard_id=hazard_id, deadline_id=f"{hazard_id}/{kind}/1", kind=kind, start=start, due_date=due_date, rules=rules
    )
    return schedule_deadline(payload, calendar)


def rung_days(deadline: Deadline) -> dict[Rung, date]:
    return {r.rung: local_date(r.at) for r in deadline.rungs}


# Golden Week 2025: 10-01..10-08 off; Sunday 09-28 and Saturday 10-11 worked.


def test_plan_across_golden_week_2025() -> None:
    deadline = schedule(DeadlineKind.PLAN, at("2025-09-25"))
    # 5 WD after Thursday 09-25: Fri 09-26, Sun 09-28 (worked), 09-29, 09-30, then Thursday 10-09.
    assert deadline.due_date == D("2025-10-09")
    assert deadline.due == datetime(2025, 10, 9, 23, 59, 59, 999999, tzinfo=SHANGHAI)
    assert deadline.owner is Owner.ENTERPRISE
    assert deadline.id == "120104-2025-00001/plan/1"
    assert rung_days(deadline) == {
        # 3 WD before: 09-30, 09-29, Sunday 09-28.
        Rung.REMINDER: D("2025-09-28"),
        Rung.OVERDUE: D("2025-10-09"),
        Rung.NOTICE_LETTER: D("2025-10-10"),
        # 10-10, Sat 10-11 (worked), 10-13..10-17, 10-20, 10-21, 10-22.
        Rung.SUMMONS: D("2025-10-22"),
        # then 10-23, 10-24, 10-27..10-31, 11-03, 11-04, 11-05.
        Rung.LISTING: D("2025-11-05"),
    }
    assert [r.rung for r in deadline.rungs] == [
        Rung.REMINDER,
        Rung.OVERDUE,
        Rung.NOTICE_LETTER,
        Rung.SUMMONS,
        Rung.LISTING,
    ]
    assert {r.rung: r.working_days_late for r in deadline.rungs} == {
        Rung.REMINDER: -3,
        Rung.OVERDUE: 0,
        Rung.NOTICE_LETTER: 1,
        Rung.SUMMONS: 10,
        Rung.LISTING: 20,
    }
    overdue = next(r for r in deadline.rungs if r.rung is Rung.OVERDUE)
    assert overdue.at == deadline.due
    # 5 WD before 10-09: 09-30, 09-29, 09-28, 09-26, 09-25.
    assert deadline.extension_cutoff == end_of_day(D("2025-09-25"))
    assert deadline.fallback_years == []
    assert not deadline.provisional


def test_start_counts_from_its_beijing_date() -> None:
    # 17:30 UTC on 09-25 is already Friday 09-26 in Beijing: one working day later than from Thursday.
    late_evening = datetime(2025, 9, 25, 17, 30, tzinfo=UTC)
    assert schedule(DeadlineKind.PLAN, late_evening).due_date == D("2025-10-10")
    assert schedule(DeadlineKind.PLAN, late_evening - timedelta(hours=2)).due_date == D("2025-10-09")


def test_a_deadline_too_close_for_a_reminder_gets_none() -> None:
    # Interim controls 2 WD after Thursday 09-25: Fri 09-26, Sun 09-28. Its reminder day, 09-24, is gone.
    deadline = schedule(DeadlineKind.INTERIM_CONTROL, at("2025-09-25"))
    assert deadline.due_date == D("2025-09-28")
    assert Rung.REMINDER not in rung_days(deadline)
    assert deadline.rungs[0].rung is Rung.OVERDUE


def test_verify_counts_calendar_days_and_rolls_off_the_holiday() -> None:
    # 60 calendar days after 08-02 is 10-01, National Day: due on the next working day, Thursday 10-09.
    deadline = schedule(DeadlineKind.VERIFY, at("2025-08-02"))
    assert deadline.due_date == D("2025-10-09")
    assert deadline.owner is Owner.DEPARTMENT


def test_a_fixed_due_date_on_a_day_off_rolls_forward() -> None:
    deadline = schedule(DeadlineKind.RECTIFY, at("2025-06-03"), due_date=D("2025-10-04"))
    assert deadline.due_date == D("2025-10-09")
    # A given date wins for any kind, not only rectification.
    assert schedule(DeadlineKind.PLAN, at("2025-09-01"), due_date=D("2025-09-27")).due_date == D("2025-09-28")


def test_rectification_needs_its_due_date() -> None:
    with pytest.raises(ValueError, match="needs the plan's due date"):
        schedule(DeadlineKind.RECTIFY, at("2025-06-03"))


# New Year 2027: the package stops at 2026; 2027-01-01 is a Friday.


def test_new_year_2027_on_the_fallback_is_provisional() -> None:
    deadline = schedule(DeadlineKind.RECTIFY, at("2026-06-01"), due_date=D("2026-12-31"))
    assert deadline.due_date == D("2026-12-31")
    assert rung_days(deadline) == {
        # 12-30, 12-29, Monday 12-28.
        Rung.REMINDER: D("2026-12-28"),
        Rung.OVERDUE: D("2026-12-31"),
        Rung.NOTICE_LETTER: D("2027-01-01"),
        # Monday-Friday: 01-01, 01-04..01-08, 01-11..01-14.
        Rung.SUMMONS: D("2027-01-14"),
        # then 01-15, 01-18..01-22, 01-25..01-28.
        Rung.LISTING: D("2027-01-28"),
    }
    # 12-30, 12-29, 12-28, 12-25, 12-24.
    assert deadline.extension_cutoff == end_of_day(D("2026-12-24"))
    assert deadline.fallback_years == [2027]
    assert deadline.provisional


def test_new_year_2027_with_a_published_calendar() -> None:
    deadline = schedule(DeadlineKind.RECTIFY, at("2026-06-01"), due_date=D("2026-12-31"), calendar=WITH_2027)
    assert rung_days(deadline) == {
        Rung.REMINDER: D("2026-12-28"),
        Rung.OVERDUE: D("2026-12-31"),
        Rung.NOTICE_LETTER: D("2027-01-04"),
        # 01-04..01-08, 01-11..01-15.
        Rung.SUMMONS: D("2027-01-15"),
        # 01-18..01-22, 01-25..01-29.
        Rung.LISTING: D("2027-01-29"),
    }
    assert deadline.fallback_years == []
    assert not deadline.provisional


def test_fallback_years_gather_every_unpublished_year_used() -> None:
    # Publication due 5 WD after 2027-12-27 on Monday-Friday: 12-28..12-31, then 2028-01-03.
    deadline = schedule(DeadlineKind.LISTING_PUBLICATION, at("2027-12-27"))
    assert deadline.due_date == D("2028-01-03")
    assert deadline.fallback_years == [2027, 2028]
    assert schedule(DeadlineKind.LISTING_PUBLICATION, at("2027-12-27"), calendar=WITH_2027).fallback_years == [2028]


# Which ladder climbs depends on who owes the deadline.


def test_a_department_deadline_ends_in_a_circular() -> None:
    # Review due 10 WD after Thursday 09-25: 09-26, 09-28, 09-29, 09-30, 10-09, 10-10, 10-11, 10-13, 10-14, 10-15.
    deadline = schedule(DeadlineKind.REVIEW, at("2025-09-25"))
    assert deadline.owner is Owner.DEPARTMENT
    assert deadline.due_date == D("2025-10-15")
    assert [r.rung for r in deadline.rungs] == [
        Rung.REMINDER,
        Rung.OVERDUE,
        Rung.NOTICE_LETTER,
        Rung.SUMMONS,
        Rung.CIRCULAR,
    ]
    # Extensions are the enterprise's to ask for.
    assert deadline.extension_cutoff is None


def test_a_committee_office_deadline_only_reminds_and_turns_red() -> None:
    # Publication 5 WD after Thursday 09-25: 09-26, 09-28, 09-29, 09-30, 10-09.
    deadline = schedule(DeadlineKind.DELISTING_PUBLICATION, at("2025-09-25"))
    assert deadline.owner is Owner.COMMITTEE_OFFICE
    assert deadline.due_date == D("2025-10-09")
    assert rung_days(deadline) == {Rung.REMINDER: D("2025-09-28"), Rung.OVERDUE: D("2025-10-09")}
    assert deadline.extension_cutoff is None


# Letters go out in office hours, each hazard at its own minute.


def test_letters_go_out_in_office_hours_at_one_minute_per_hazard() -> None:
    deadline = schedule(DeadlineKind.PLAN, at("2025-09-25"), hazard_id="120104-2025-00042")
    times = {r.at.astimezone(SHANGHAI).time() for r in deadline.rungs if r.rung is not Rung.OVERDUE}
    assert len(times) == 1
    (moment,) = times
    assert time(OFFICE_OPENS_HOUR) <= moment < time(OFFICE_OPENS_HOUR + OFFICE_HOURS)
    assert moment.microsecond == 0


def test_letters_spread_across_the_office_day_between_hazards() -> None:
    minutes = set()
    for n in range(200):
        moment = office_time(f"120104-2026-{n:05d}", D("2026-03-02")).astimezone(SHANGHAI)
        assert moment.date() == D("2026-03-02")
        assert OFFICE_OPENS_HOUR <= moment.hour < OFFICE_OPENS_HOUR + OFFICE_HOURS
        minutes.add((moment.hour, moment.minute))
    assert len(minutes) >= 100


def test_scheduling_is_deterministic() -> None:
    first = schedule(DeadlineKind.RECTIFY, at("2026-06-01"), due_date=D("2026-12-31"))
    again = schedule_deadline(
        ScheduleDeadlineInput.model_validate_json(
            ScheduleDeadlineInput(
                hazard_id="120104-2025-00001",
                deadline_id="120104-2025-00001/rectify/1",
                kind=DeadlineKind.RECTIFY,
                start=at("2026-06-01"),
                due_date=D("2026-12-31"),
                rules=DEFAULTS,
            ).model_dump_json()
        ),
        WorkCalendar(),
    )
    assert again == first


# Properties over any start, kind and policy the admin API accepts.


@st.composite
def climbing_rules(draw: st.DrawFn) -> PolicyRules:
    notice = draw(st.integers(1, 20))
    summons = notice + draw(st.integers(1, 40))
    return PolicyRules(
        verify_days=draw(st.integers(1, 365)),
        plan_wd=draw(st.integers(1, 60)),
        interim_control_wd=draw(st.integers(1, 60)),
        extension_min_wd_before=draw(st.integers(0, 60)),
        extension_decision_wd=draw(st.integers(1, 60)),
        review_wd=draw(st.integers(1, 60)),
        reminder_wd_before=draw(st.integers(0, 30)),
        notice_letter_wd_after=notice,
        summons_wd_after=summons,
        listing_wd_after=summons + draw(st.integers(1, 60)),
        publication_wd=draw(st.integers(1, 60)),
    )


@given(
    start=st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2028, 6, 30), timezones=st.just(UTC)),
    kind=st.sampled_from(DeadlineKind),
    days_to_due=st.none() | st.integers(0, 365),
    rules=climbing_rules(),
    calendar=st.sampled_from([PLAIN, WITH_2027]),
)
def test_every_deadline_and_letter_falls_on_a_working_day(
    start: datetime,
    kind: DeadlineKind,
    days_to_due: int | None,
    rules: PolicyRules,
    calendar: WorkCalendar,
) -> None:
    if kind is DeadlineKind.RECTIFY and days_to_due is None:
        days_to_due = 30
    due_date = None if days_to_due is None else local_date(start) + timedelta(days=days_to_due)
    deadline = schedule(kind, start, due_date=due_date, rules=rules, calendar=calendar)

    assert calendar.is_workday(deadline.due_date)
    assert deadline.due == end_of_day(deadline.due_date)
    assert local_date(start) <= deadline.due_date
    moments = [r.at for r in deadline.rungs]
    assert moments == sorted(moments)
    assert len(set(moments)) == len(moments)
    for rung in deadline.rungs:
        if rung.rung is Rung.OVERDUE:
            assert rung.at == deadline.due
            continue
        assert calendar.is_workday(local_date(rung.at))
        local = rung.at.astimezone(SHANGHAI).time()
        assert time(OFFICE_OPENS_HOUR) <= local < time(OFFICE_OPENS_HOUR + OFFICE_HOURS)
        if rung.rung is Rung.REMINDER:
            assert rung.at > start
        else:
            assert rung.rung in LETTER_RUNGS
            assert rung.at > deadline.due
    assert deadline.fallback_years == sorted(set(deadline.fallback_years))
    assert all(year >= (2028 if calendar is WITH_2027 else 2027) for year in deadline.fallback_years)


# The activity: the calendar comes from the read model, and fallback is logged and counted.


def fallback_count(year: int) -> float:
    return REGISTRY.get_sample_value("xiaohao_deadlines_fallback_calendar_total", {"year": str(year)}) or 0.0


def new_year_input() -> ScheduleDeadlineInput:
    return ScheduleDeadlineInput(
        hazard_id="120104-2026-00007",
        deadline_id="120104-2026-00007/rectify/1",
        kind=DeadlineKind.RECTIFY,
        start=at("2026-06-01"),
        due_date=D("2026-12-31"),
        rules=DEFAULTS,
    )


def test_the_activity_counts_on_the_calendar_the_committee_office_entered(engine: Engine) -> None:
    activities = ScheduleActivities(engine)
    env = ActivityEnvironment()
    before = fallback_count(2027)
    with capture_logs() as logs:
        provisional = env.run(activities.schedule_deadline, new_year_input())
    assert provisional.fallback_years == [2027]
    assert rung_days(provisional)[Rung.NOTICE_LETTER] == D("2027-01-01")
    assert fallback_count(2027) == before + 1
    warnings = [entry for entry in logs if entry["log_level"] == "warning"]
    assert len(warnings) == 1
    assert warnings[0]["hazard_id"] == "120104-2026-00007"
    assert warnings[0]["deadline_id"] == "120104-2026-00007/rectify/1"
    assert warnings[0]["fallback_years"] == [2027]

    with Session(engine) as session:
        admin_queries.save_calendar_override(
            session=session, override=NEW_YEAR_2027, actor_name="陈静", now=at("2026-11-20")
        )
    with capture_logs() as logs:
        published = env.run(activities.schedule_deadline, new_year_input())
    assert published.fallback_years == []
    assert rung_days(published)[Rung.NOTICE_LETTER] == D("2027-01-04")
    assert published.rungs != provisional.rungs
    assert fallback_count(2027) == before + 1
    assert not [entry for entry in logs if entry["log_level"] == "warning"]

    # A corrected notice for the same year replaces the kept calendar too: the reader compares what the rows hold.
    corrected = NEW_YEAR_2027.model_copy(update={"holidays": NEW_YEAR_2027.holidays | {D("2027-01-04")}})
    with Session(engine) as session:
        admin_queries.save_calendar_override(
            session=session, override=corrected, actor_name="陈静", now=at("2026-11-21")
        )
    assert rung_days(env.run(activities.schedule_deadline, new_year_input()))[Rung.NOTICE_LETTER] == D("2027-01-05")


def test_a_year_on_the_fallback_is_warned_of_once_in_a_while_and_counted_every_time() -> None:
    """In the weeks before next year's calendar is published every deadline reaching into it falls back: one
    warning per year per WARN_EVERY_SECONDS says how many did, the metric counts each."""
    clock = [1000.0]
    counter = DeadlineCounter(monotonic=lambda: clock[0])
    before = fallback_count(2027)
    with capture_logs() as logs:
        for _ in range(3):
            counter.count(new_year_input(), PLAIN)
        clock[0] += WARN_EVERY_SECONDS - 1
        counter.count(new_year_input(), PLAIN)
        clock[0] += 1
        counter.count(new_year_input(), PLAIN)
        counter.count(new_year_input().model_copy(update={"due_date": D("2026-03-31")}), PLAIN)  # all in 2026
    warnings = [entry for entry in logs if entry["log_level"] == "warning"]
    assert [(w["fallback_years"], w["deadlines"]) for w in warnings] == [([2027], [1]), ([2027], [4])]
    assert fallback_count(2027) == before + 5


def test_the_activity_refuses_a_rectification_without_a_date_for_good(engine: Engine) -> None:
    payload = new_year_input().model_copy(update={"due_date": None})
    with pytest.raises(ApplicationError, match="needs the plan's due date") as raised:
        ActivityEnvironment().run(ScheduleActivities(engine).schedule_deadline, payload)
    assert raised.value.non_retryable
    assert raised.value.type == "InvalidPayload"


def test_load_policy_gives_the_defaults_until_one_is_saved(engine: Engine) -> None:
    activities = ScheduleActivities(engine)
    env = ActivityEnvironment()
    defaults = env.run(activities.load_policy, LoadPolicyInput(industry=Industry.GAS))
    assert defaults == HazardPolicy(version=1, rules=PolicyRules())
    with Session(engine) as session:
        assert admin_queries.policy_versions(session=session).count == 1  # nothing was written

        gas = PolicyRules(plan_wd=3)
        admin_queries.save_policy(
            session=session,
            rules=PolicyRules(review_wd=8),
            industry_overrides={Industry.GAS: gas},
            note="燃气行业从严",
            actor_name="陈静",
            now=at("2026-11-20"),
        )
    assert env.run(activities.load_policy, LoadPolicyInput(industry=Industry.GAS)) == HazardPolicy(version=2, rules=gas)
    assert env.run(activities.load_policy, LoadPolicyInput(industry=Industry.FIRE)) == HazardPolicy(
        version=2, rules=PolicyRules(review_wd=8)
    )
