"""Deadlines and the escalation ladder, walked day by day on the time-skipping test server.

Each test has its own time-skipping server (the `time_env` fixture), whose clock starts at the real present,
so these walks cross the coming days and the next New Year (a year the calendar package does not know
yet); exact Golden Week 2025 dates are checked on the schedule itself in tests/test_schedule.py.
"""

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session, col, select
from temporalio import activity
from temporalio.client import WorkflowQueryFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from activities.read_model import ReadModelActivities
from activities.schedule import ScheduleActivities
from contracts.clock import CHINA_TZ, china_date
from contracts.deadlines import (
    ISSUE_ESCALATION_ACTIVITY,
    OFFICE_HOURS,
    OFFICE_OPENS_HOUR,
    RECOMPUTE_DEADLINES_SIGNAL,
    DeadlineKind,
    EscalationRecord,
    IssueEscalationInput,
    PolicyRules,
    Rag,
    Rung,
)
from contracts.enums import Stage
from contracts.hazard import (
    ActionResult,
    DecideExtensionInput,
    ExtensionDecision,
    ExtensionRequest,
    HazardState,
    RequestExtensionInput,
    SubmitPlanInput,
)
from readmodel.admin_queries import save_calendar_override, save_policy
from readmodel.models import EscalationRow
from tests.conftest import workflow_cache_size
from tests.keys import CONVERTER
from tests.scenarios import ENTERPRISE, PATHS, REVIEWER, Handle, confirm_control, plan, start
from workcalendar import WorkCalendar, YearOverride
from worker import build_worker
from workflows.hazard import HazardWorkflow


async def state_of(handle: Handle) -> HazardState:
    return await handle.query(HazardWorkflow.get_state)


async def eventually(handle: Handle, done: Callable[[HazardState], bool], what: str) -> HazardState:
    """Timers fire on the server's clock, their activities on ours: wait (bounded) for the state to show it."""
    state: HazardState | None = None
    for _ in range(200):
        try:
            state = await state_of(handle)
        except (RPCError, WorkflowQueryFailedError) as err:
            # With the worker's cache off (make reliability) every query replays the whole history, and behind ten
            # hazards' letters it can outlast the test server's query deadline: asked again, within the same bound.
            if "deadline exceeded" not in str(err).lower():
                raise
            continue
        if done(state):
            return state
        await asyncio.sleep(0.05)
    shown = state.model_dump_json(include={"deadlines", "escalations"}) if state else "never answered"
    raise AssertionError(f"never happened: {what}; state: {shown}")


async def sleep_until(env: WorkflowEnvironment, moment: datetime) -> None:
    now = await env.get_current_time()
    if moment > now:
        await env.sleep(moment - now)


def has_fired(rung: Rung) -> Callable[[HazardState], bool]:
    return lambda state: any(r.rung is rung and r.fired_at for d in state.deadlines for r in d.rungs)


def rungs_fired(state: HazardState) -> list[Rung]:
    return [e.rung for e in state.escalations]


def escalation_rows(engine: Engine, hazard_id: str) -> list[EscalationRow]:
    with Session(engine) as session:
        return list(
            session.exec(
                select(EscalationRow).where(EscalationRow.hazard_id == hazard_id).order_by(col(EscalationRow.at))
            )
        )


def in_office_hours(moment: datetime) -> bool:
    local = moment.astimezone(CHINA_TZ)
    return OFFICE_OPENS_HOUR <= local.hour < OFFICE_OPENS_HOUR + OFFICE_HOURS


async def test_a_late_plan_climbs_every_rung_once_then_stops(
    time_env: WorkflowEnvironment, time_worker: Worker, engine: Engine
) -> None:
    handle = await start(time_env.client, PATHS["self_report_closed"], time_worker.task_queue)
    state = await eventually(handle, lambda s: bool(s.deadlines), "plan deadline armed")
    reported = china_date(state.reported_at)
    plan_deadline = state.deadlines[0]
    assert plan_deadline.kind is DeadlineKind.PLAN
    assert plan_deadline.due_date == WorkCalendar().add_workdays(reported, 5).day
    assert state.penalty_exempt is True
    assert state.rag is Rag.GREEN
    schedule = {r.rung: r for r in plan_deadline.rungs}
    assert list(schedule) == [Rung.REMINDER, Rung.OVERDUE, Rung.NOTICE_LETTER, Rung.SUMMONS, Rung.LISTING]
    assert all(in_office_hours(r.at) for r in plan_deadline.rungs if r.rung is not Rung.OVERDUE)

    expectations = [
        (Rung.REMINDER, Rag.YELLOW, 0, [Rung.REMINDER]),
        (Rung.OVERDUE, Rag.RED, 0, [Rung.REMINDER]),
        (Rung.NOTICE_LETTER, Rag.RED, 1, [Rung.REMINDER, Rung.NOTICE_LETTER]),
        (Rung.SUMMONS, Rag.RED, 2, [Rung.REMINDER, Rung.NOTICE_LETTER, Rung.SUMMONS]),
        (Rung.LISTING, Rag.RED, 3, [Rung.REMINDER, Rung.NOTICE_LETTER, Rung.SUMMONS, Rung.LISTING]),
    ]
    for rung, rag, level, fired in expectations:
        moment = schedule[rung].at
        await sleep_until(time_env, moment - timedelta(minutes=1))
        before = await state_of(handle)
        assert not has_fired(rung)(before), f"{rung} fired early"
        await sleep_until(time_env, moment + timedelta(minutes=1))
        state = await eventually(handle, has_fired(rung), rung)
        assert state.rag is rag
        assert state.escalation_level == level
        assert rungs_fired(state) == fired

    letters = {e.rung: e for e in state.escalations}
    year = schedule[Rung.NOTICE_LETTER].at.astimezone(CHINA_TZ).year
    assert letters[Rung.NOTICE_LETTER].doc_number == f"南开安委办函〔{year}〕1号"
    assert letters[Rung.REMINDER].doc_number is None
    assert china_date(letters[Rung.NOTICE_LETTER].at) == WorkCalendar().add_workdays(plan_deadline.due_date, 1).day
    assert china_date(letters[Rung.SUMMONS].at) == WorkCalendar().add_workdays(plan_deadline.due_date, 10).day
    assert china_date(letters[Rung.LISTING].at) == WorkCalendar().add_workdays(plan_deadline.due_date, 20).day
    assert state.penalty_exempt is False  # the first 函告 ended it
    assert state.listing is not None
    assert state.listing.automatic is True
    assert state.listing.order.doc_number == letters[Rung.LISTING].doc_number
    assert any(d.kind is DeadlineKind.LISTING_PUBLICATION for d in state.deadlines)

    # A late plan is still accepted, and the plan's ladder stops there.
    today = china_date(await time_env.get_current_time())
    late_plan = plan(deadline=today + timedelta(days=30))
    late = await handle.execute_update(HazardWorkflow.submit_plan, SubmitPlanInput(actor=ENTERPRISE, plan=late_plan))
    assert late.state.stage is Stage.INTERIM_CONTROL
    assert DeadlineKind.PLAN not in {d.kind for d in late.state.deadlines}
    assert late.state.rag is Rag.GREEN
    await time_env.sleep(timedelta(days=40))
    state = await state_of(handle)
    assert [e.rung for e in state.escalations if e.deadline_id == plan_deadline.id] == fired
    rows = escalation_rows(engine, state.hazard_id)
    assert [(r.deadline_id, r.rung) for r in rows if r.deadline_id == plan_deadline.id] == [
        (plan_deadline.id, rung) for rung in fired
    ]


async def to_rectify(handle: Handle, deadline: date) -> HazardState:
    await handle.execute_update(
        HazardWorkflow.submit_plan, SubmitPlanInput(actor=ENTERPRISE, plan=plan(deadline=deadline))
    )
    step = confirm_control()
    result: ActionResult = await handle.execute_update(step.update, step.input(), result_type=ActionResult)
    assert result.state.stage is Stage.RECTIFY
    return result.state


async def year_end(env: WorkflowEnvironment) -> tuple[date, int]:
    today = china_date(await env.get_current_time())
    return date(today.year, 12, 31), today.year + 1


def new_year_override(year: int) -> YearOverride:
    return YearOverride(year=year, holidays=frozenset({date(year, 1, 1)}), version="国办发明电〔测试〕")


async def test_new_year_on_the_fallback_then_with_a_published_calendar(
    time_env: WorkflowEnvironment, time_worker: Worker, engine: Engine
) -> None:
    dec31, next_year = await year_end(time_env)
    fallback = WorkCalendar()
    published = WorkCalendar([new_year_override(next_year)])

    handle = await start(time_env.client, PATHS["self_report_closed"], time_worker.task_queue)
    state = await to_rectify(handle, dec31)
    rectify = next(d for d in state.deadlines if d.kind is DeadlineKind.RECTIFY)
    letter = next(r for r in rectify.rungs if r.rung is Rung.NOTICE_LETTER)
    expected_fallback = fallback.add_workdays(rectify.due_date, 1)
    assert china_date(letter.at) == expected_fallback.day
    assert next_year in rectify.fallback_years  # provisional: next year's calendar is not published

    # The committee office publishes next year's calendar: the running hazard recounts deadlines not yet passed.
    with Session(engine) as session:
        save_calendar_override(
            session=session, override=new_year_override(next_year), actor_name="陈静", now=datetime.now(CHINA_TZ)
        )
    await handle.signal(RECOMPUTE_DEADLINES_SIGNAL)
    expected = published.add_workdays(rectify.due_date, 1).day
    state = await eventually(
        handle,
        lambda s: any(
            china_date(r.at) == expected for d in s.deadlines for r in d.rungs if r.rung is Rung.NOTICE_LETTER
        ),
        "notice letter moved to the published calendar's next working day",
    )
    moved = next(d for d in state.deadlines if d.kind is DeadlineKind.RECTIFY)
    assert next_year not in moved.fallback_years
    assert expected != expected_fallback.day or dec31.weekday() >= 4  # 1 Jan off moves it, unless a weekend did

    moved_letter = next(r for r in moved.rungs if r.rung is Rung.NOTICE_LETTER)
    await sleep_until(time_env, moved_letter.at + timedelta(minutes=1))
    state = await eventually(handle, lambda s: Rung.NOTICE_LETTER in rungs_fired(s), "notice letter fired")
    notices = [e for e in state.escalations if e.rung is Rung.NOTICE_LETTER]
    assert len(notices) == 1
    assert china_date(notices[0].at) == expected
    assert notices[0].doc_number == f"南开安委办函〔{expected.year}〕1号"


async def test_an_approved_extension_rearms_and_the_old_ladder_stops(
    time_env: WorkflowEnvironment, time_worker: Worker, engine: Engine
) -> None:
    handle = await start(time_env.client, PATHS["self_report_closed"], time_worker.task_queue)
    now = china_date(await time_env.get_current_time())
    state = await to_rectify(handle, now + timedelta(days=20))
    old = next(d for d in state.deadlines if d.kind is DeadlineKind.RECTIFY)
    new_date = now + timedelta(days=60)
    asked = await handle.execute_update(
        HazardWorkflow.request_extension,
        RequestExtensionInput(actor=ENTERPRISE, request=ExtensionRequest(reason="设备到货延迟", new_due_date=new_date)),
    )
    decision = next(d for d in asked.state.deadlines if d.kind is DeadlineKind.EXTENSION_DECISION)
    assert decision.due_date == WorkCalendar().add_workdays(now, 10).day
    approved = await handle.execute_update(
        HazardWorkflow.decide_extension,
        DecideExtensionInput(actor=REVIEWER, decision=ExtensionDecision(approve=True, opinion="同意延期")),
    )
    kinds = {d.kind: d for d in approved.state.deadlines}
    assert DeadlineKind.EXTENSION_DECISION not in kinds
    assert kinds[DeadlineKind.RECTIFY].due_date == WorkCalendar().add_workdays(new_date, 0).day
    assert kinds[DeadlineKind.RECTIFY].id != old.id

    old_letter = next(r for r in old.rungs if r.rung is Rung.NOTICE_LETTER)
    await sleep_until(time_env, old_letter.at + timedelta(days=1))
    state = await state_of(handle)
    assert Rung.NOTICE_LETTER not in rungs_fired(state)
    assert all(e.deadline_id != old.id or e.rung is Rung.REMINDER for e in state.escalations)
    assert [e.decision.approve for e in state.extensions if e.decision] == [True]


async def test_a_restarted_worker_fires_nothing_twice(
    time_env: WorkflowEnvironment, engine: Engine, task_queue: str
) -> None:
    # No workflow cache: every task replays the history from the start, as on a freshly started worker, and
    # no sticky task of a stopped worker holds the test server's time_env.
    async with build_worker(time_env.client, engine, task_queue=task_queue, max_cached_workflows=0):
        handle = await start(time_env.client, PATHS["self_report_closed"], task_queue)
        state = await eventually(handle, lambda s: bool(s.deadlines), "plan deadline armed")
        schedule = {r.rung: r.at for r in state.deadlines[0].rungs}
        await sleep_until(time_env, schedule[Rung.NOTICE_LETTER] + timedelta(minutes=1))
        await eventually(handle, lambda s: Rung.NOTICE_LETTER in rungs_fired(s), "notice letter")
    # A new worker between rungs.
    async with build_worker(time_env.client, engine, task_queue=task_queue, max_cached_workflows=0):
        await sleep_until(time_env, schedule[Rung.SUMMONS] + timedelta(minutes=1))
        state = await eventually(handle, lambda s: Rung.SUMMONS in rungs_fired(s), "summons")
    assert rungs_fired(state) == [Rung.REMINDER, Rung.NOTICE_LETTER, Rung.SUMMONS]
    rows = escalation_rows(engine, state.hazard_id)
    assert [r.rung for r in rows] == [Rung.REMINDER, Rung.NOTICE_LETTER, Rung.SUMMONS]


async def test_simultaneous_escalations_number_letters_without_gaps(
    time_env: WorkflowEnvironment, time_worker: Worker, engine: Engine
) -> None:
    handles = await asyncio.gather(
        *(start(time_env.client, PATHS["self_report_closed"], time_worker.task_queue) for _ in range(10))
    )
    states = [await eventually(h, lambda s: bool(s.deadlines), "armed") for h in handles]
    last_letter = max(r.at for s in states for r in s.deadlines[0].rungs if r.rung is Rung.NOTICE_LETTER)
    await sleep_until(time_env, last_letter + timedelta(minutes=1))
    states = [await eventually(h, lambda s: Rung.NOTICE_LETTER in rungs_fired(s), "letter") for h in handles]
    numbers = sorted(e.doc_number or "" for s in states for e in s.escalations if e.rung is Rung.NOTICE_LETTER)
    year = last_letter.astimezone(CHINA_TZ).year
    assert numbers == sorted(f"南开安委办函〔{year}〕{n}号" for n in range(1, 11))


async def test_a_policy_and_calendar_change_does_not_break_replay(
    time_env: WorkflowEnvironment, time_worker: Worker, engine: Engine
) -> None:
    handle = await start(time_env.client, PATHS["self_report_closed"], time_worker.task_queue)
    state = await eventually(handle, lambda s: bool(s.deadlines), "armed")
    summons = next(r.at for r in state.deadlines[0].rungs if r.rung is Rung.SUMMONS)
    await sleep_until(time_env, summons + timedelta(minutes=1))
    await eventually(handle, lambda s: Rung.SUMMONS in rungs_fired(s), "summons")
    history = await handle.fetch_history()

    with Session(engine) as session:
        save_policy(
            session=session,
            rules=PolicyRules(plan_wd=1, reminder_wd_before=0, notice_letter_wd_after=3),
            industry_overrides={},
            note="测试：改政策",
            actor_name="陈静",
            now=datetime.now(CHINA_TZ),
        )
        for year in range(2025, 2030):
            save_calendar_override(
                session=session,
                override=YearOverride(year=year, holidays=frozenset({date(year, 3, 3)})),
                actor_name="陈静",
                now=datetime.now(CHINA_TZ),
            )
    replayer = Replayer(workflows=[HazardWorkflow], data_converter=CONVERTER)
    result = await replayer.replay_workflow(history)
    assert result.replay_failure is None


@activity.defn(name=ISSUE_ESCALATION_ACTIVITY)
def refuse_escalation(input: IssueEscalationInput) -> EscalationRecord:
    raise ApplicationError("no letter for this rung", type="InvalidPayload", non_retryable=True)


async def test_a_refused_escalation_does_not_stop_the_hazard(
    time_env: WorkflowEnvironment, engine: Engine, task_queue: str
) -> None:
    schedule, read_model = ScheduleActivities(engine), ReadModelActivities(engine)
    async with Worker(
        time_env.client,
        task_queue=task_queue,
        workflows=[HazardWorkflow],
        activities=[read_model.project_hazard, schedule.schedule_deadline, schedule.load_policy, refuse_escalation],
        activity_executor=ThreadPoolExecutor(max_workers=4),
        max_cached_workflows=workflow_cache_size(),
    ):
        handle = await start(time_env.client, PATHS["self_report_closed"], task_queue)
        state = await eventually(handle, lambda s: bool(s.deadlines), "armed")
        letter = next(r.at for r in state.deadlines[0].rungs if r.rung is Rung.NOTICE_LETTER)
        await sleep_until(time_env, letter + timedelta(minutes=1))
        state = await eventually(handle, has_fired(Rung.NOTICE_LETTER), "notice letter passed")
        assert state.escalations == []
        today = china_date(await time_env.get_current_time())
        late = SubmitPlanInput(actor=ENTERPRISE, plan=plan(deadline=today + timedelta(days=30)))
        result = await handle.execute_update(HazardWorkflow.submit_plan, late)
        assert result.state.stage is Stage.INTERIM_CONTROL
