"""Periodic reports: the schedules (created once, the right calendar), scheduled and regenerated runs on the dev
server, the workbooks they write, and the API that lists, serves and regenerates them.

The data set is tests/test_dispatch_as_of.py's: X = 2026-03-11, with a month of events after it.
"""

import asyncio
import hashlib
import io
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
import pytest_asyncio
from openpyxl import load_workbook
from openpyxl.workbook import Workbook
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from temporalio.client import (
    Client,
    ScheduleActionStartWorkflow,
    ScheduleBackfill,
    ScheduleRange,
    WorkflowFailureError,
)
from temporalio.testing import WorkflowEnvironment

from activities.reports import report_store
from contracts.clock import CHINA_TZ, china_date
from contracts.deadlines import DeadlineKind, Rung
from contracts.hazard import TASK_QUEUE, Actor
from contracts.reports import GeneratedReport, ReportInput, ReportKind, ReportTrigger, schedule_id
from evidence import LocalEvidenceStore
from infra.schedules import SCHEDULES, ScheduledWorkflow, ensure_schedules
from readmodel.models import ReportSnapshot
from settings import Settings
from tests.conftest import ApiStack, workflow_cache_size
from tests.scenarios import AUDITOR, COMMITTEE, ENTERPRISE, INSPECTOR, STREET
from tests.test_dispatch_as_of import STREET_A, STREET_B, Scenario, X, build, t
from workcalendar import end_of_day
from worker import build_worker
from workflows.report import ReportWorkflow

pytestmark = pytest.mark.databases

T = TypeVar("T")
NOW = datetime.now(CHINA_TZ)
TODAY = china_date(NOW)
DISPATCH = next(s for s in SCHEDULES if s.id == schedule_id(ReportKind.DISPATCH_STREET))
# The registry holds other schedules too (the read model reconciler): these are the reports'.
REPORTS = [s for s in SCHEDULES if s.workflow == "ReportWorkflow"]
PROBLEM = "application/problem+json"


async def poll(check: Callable[[], Awaitable[T | None]]) -> T:
    """Asks until `check` answers (a run a schedule started has no handle to wait on); a minute at most."""
    for _ in range(200):
        found = await check()
        if found is not None:
            return found
        await asyncio.sleep(0.3)
    raise AssertionError("no answer within a minute")


def snapshots(engine: Engine, kind: ReportKind, trigger: ReportTrigger) -> list[ReportSnapshot]:
    with Session(engine) as session:
        query = select(ReportSnapshot).where(col(ReportSnapshot.kind) == kind, col(ReportSnapshot.trigger) == trigger)
        return list(session.exec(query.order_by(col(ReportSnapshot.id))).all())


def workbook(content: bytes) -> Workbook:
    return load_workbook(io.BytesIO(content))


def stored(settings: Settings, snapshot: ReportSnapshot) -> Workbook:
    opened = report_store(settings).open(snapshot.sha256)
    return workbook(b"".join(opened.chunks()))


def rows(sheet: Worksheet) -> list[list[Any]]:
    return [[cell.value for cell in row] for row in sheet.iter_rows()]


def lines_of(sheet: Worksheet, *names: str) -> dict[str, list[Any]]:
    """The 调度表 lines (序号 left out) of these streets or departments."""
    return {row[1]: row[2:] for row in rows(sheet)[3:] if row[1] in names}


def merged(sheet: Worksheet) -> set[str]:
    return {str(r) for r in sheet.merged_cells.ranges}


def backfill_at(scheduled: datetime) -> ScheduleBackfill:
    """Runs the schedule as if `scheduled` (its 01:00) had just passed."""
    return ScheduleBackfill(start_at=scheduled - timedelta(hours=1), end_at=scheduled + timedelta(minutes=30))


# --- the schedules ---------------------------------------------------------------------------------------------


async def test_schedules_are_created_once_with_the_right_calendar(dev_env: WorkflowEnvironment) -> None:
    client = dev_env.client
    try:
        # A schedule left with another calendar by an older release is brought to the declared one, paused or not.
        stale = replace(DISPATCH, spec=replace(DISPATCH.spec, calendars=[]))
        await ensure_schedules(client, schedules=(stale,))
        await client.get_schedule_handle(DISPATCH.id).pause(note="运维暂停")

        await ensure_schedules(client)
        await ensure_schedules(client)

        listed = await until_listed(client, {entry.id for entry in SCHEDULES})
        assert sorted(listed) == sorted(entry.id for entry in SCHEDULES)  # one of each
        assert {entry.id for entry in REPORTS} == {schedule_id(kind) for kind in ReportKind}
        for entry in REPORTS:
            described = await client.get_schedule_handle(entry.id).describe()
            spec = described.schedule.spec
            assert spec.time_zone_name == "Asia/Shanghai"
            [calendar] = spec.calendars
            assert list(calendar.hour) == [ScheduleRange(1)]
            assert list(calendar.minute) == [ScheduleRange(0)]
            if entry.id == schedule_id(ReportKind.QUARTERLY):
                assert list(calendar.day_of_month) == [ScheduleRange(1)]
                assert list(calendar.month) == [ScheduleRange(m) for m in (1, 4, 7, 10)]
            else:
                assert list(calendar.day_of_month) == [ScheduleRange(12), ScheduleRange(28)]
                assert list(calendar.month) == [ScheduleRange(1, 12)]
            action = described.schedule.action
            assert isinstance(action, ScheduleActionStartWorkflow)
            assert (action.workflow, action.task_queue) == ("ReportWorkflow", TASK_QUEUE)
        # The operator's pause survived the update.
        assert (await client.get_schedule_handle(DISPATCH.id).describe()).schedule.state.paused
        # The next runs, in China time: 01:00 on the coming 12th and 28th, and on the next quarter's first day.
        department = await client.get_schedule_handle(schedule_id(ReportKind.DISPATCH_DEPARTMENT)).describe()
        upcoming = [run.astimezone(CHINA_TZ) for run in department.info.next_action_times[:3]]
        assert len(upcoming) == 3
        assert all((run.day in (12, 28), run.hour, run.minute) == (True, 1, 0) for run in upcoming)
        quarterly = await client.get_schedule_handle(schedule_id(ReportKind.QUARTERLY)).describe()
        first = quarterly.info.next_action_times[0].astimezone(CHINA_TZ)
        assert (first.month in (1, 4, 7, 10), first.day, first.hour) == (True, 1, 1)
    finally:
        for entry in SCHEDULES:
            await client.get_schedule_handle(entry.id).delete()


async def until_listed(client: Client, ids: set[str]) -> list[str]:
    """Schedule ids as the server lists them (its visibility store catches up shortly after a create)."""
    deadline = asyncio.get_running_loop().time() + 30
    while True:
        listed = [s.id async for s in await client.list_schedules() if s.id in ids]
        if set(listed) == ids or asyncio.get_running_loop().time() > deadline:
            return listed
        await asyncio.sleep(0.3)


# --- runs on the dev server ------------------------------------------------------------------------------------


@pytest_asyncio.fixture
async def report_worker(
    dev_env: WorkflowEnvironment, engine: Engine, task_queue: str, tmp_path: Path
) -> AsyncIterator[Settings]:
    settings = Settings(data_dir=tmp_path)
    async with build_worker(
        dev_env.client, engine, task_queue=task_queue, settings=settings, max_cached_workflows=workflow_cache_size()
    ):
        yield settings


async def regenerate(client: Client, task_queue: str, kind: ReportKind, as_of: date) -> GeneratedReport:
    return await client.execute_workflow(
        ReportWorkflow.run,
        ReportInput(kind=kind, as_of=as_of, requested_by=COMMITTEE.id),
        id=f"report-test-{uuid.uuid4()}",
        task_queue=task_queue,
    )


async def test_a_scheduled_snapshot_and_its_regeneration_a_month_later_match(
    dev_env: WorkflowEnvironment, engine: Engine, task_queue: str, report_worker: Settings
) -> None:
    scenario = build(engine)
    entry = ScheduledWorkflow(
        id=f"test-dispatch-{uuid.uuid4().hex[:8]}",
        workflow=DISPATCH.workflow,
        input=DISPATCH.input,
        spec=DISPATCH.spec,
        note="test",
    )
    await ensure_schedules(dev_env.client, task_queue=task_queue, schedules=(entry,))
    handle = dev_env.client.get_schedule_handle(entry.id)
    # Paused: only the backfilled run below may start, whatever the date the suite runs on.
    await handle.pause()
    try:
        await handle.backfill(backfill_at(t(3, 12, 1)))

        async def taken() -> list[ReportSnapshot] | None:
            return snapshots(engine, ReportKind.DISPATCH_STREET, ReportTrigger.SCHEDULED) or None

        [scheduled] = await poll(taken)

        # Taken on the 12th at 01:00, as of the 11th: the whole of that day.
        assert (scheduled.as_of, scheduled.cutoff) == (X, end_of_day(X))
        assert scheduled.requested_by == f"schedule:{entry.id}"
        assert scheduled.workflow_id.startswith(entry.id)
        assert scheduled.summary == {"found": 10, "closed": 1, "in_progress": 9, "overdue": 4, "listed": 1}
        snapshot = stored(report_worker, scheduled).active
        assert isinstance(snapshot, Worksheet)
        assert snapshot["A2"].value == "截至3月11日（2026年3月11日）累计"
        assert lines_of(snapshot, STREET_A, STREET_B) == {
            STREET_A: [7, 1, 6, 3, 1, pytest.approx(14.29)],
            STREET_B: [3, 0, 3, 1, 0, 0],
        }

        scenario.later()
        # The same run again (a catch-up, a retried start): the snapshot already taken stands.
        await handle.backfill(backfill_at(t(3, 12, 1)))
        await poll(lambda: runs_done(dev_env.client, entry.id, 2))
        assert len(snapshots(engine, ReportKind.DISPATCH_STREET, ReportTrigger.SCHEDULED)) == 1

        regenerated = await regenerate(dev_env.client, task_queue, ReportKind.DISPATCH_STREET, X)
        assert regenerated.created
        assert regenerated.snapshot_id != scheduled.id
        [row] = snapshots(engine, ReportKind.DISPATCH_STREET, ReportTrigger.REGENERATED)
        assert (row.as_of, row.cutoff, row.requested_by) == (X, end_of_day(X), COMMITTEE.id)
        sheet = stored(report_worker, row).active
        assert isinstance(sheet, Worksheet)
        assert rows(sheet) == rows(snapshot)  # cell by cell, a month of events later
        assert row.summary == scheduled.summary

        today = await regenerate(dev_env.client, task_queue, ReportKind.DISPATCH_STREET, TODAY)
        with Session(engine) as session:
            now_row = session.get(ReportSnapshot, today.snapshot_id)
        assert now_row is not None
        now_sheet = stored(report_worker, now_row).active
        assert isinstance(now_sheet, Worksheet)
        assert lines_of(now_sheet, STREET_A, STREET_B) == {
            STREET_A: [7, 3, 4, 3, 0, pytest.approx(42.86)],
            STREET_B: [3, 0, 3, 2, 0, 0],
        }
    finally:
        await handle.delete()


async def runs_done(client: Client, schedule: str, count: int) -> bool | None:
    """True once the schedule has started `count` runs and none is still running."""
    info = (await client.get_schedule_handle(schedule).describe()).info
    return True if info.num_actions >= count and not info.running_actions else None


async def test_a_scheduled_run_without_a_scheduled_time_is_refused(
    dev_env: WorkflowEnvironment, task_queue: str, report_worker: Settings
) -> None:
    with pytest.raises(WorkflowFailureError) as failed:
        await dev_env.client.execute_workflow(
            ReportWorkflow.run,
            ReportInput(kind=ReportKind.QUARTERLY),
            id=f"report-{uuid.uuid4()}",
            task_queue=task_queue,
        )
    assert "no scheduled time" in str(failed.value.cause)


async def test_the_quarterly_report(
    dev_env: WorkflowEnvironment, engine: Engine, task_queue: str, report_worker: Settings
) -> None:
    scenario = build(engine)
    # A 函告 on H2's late plan on 2-12; the plan came on 3-15: 744 hours later.
    scenario.walks["H2"].remind(t(2, 12), DeadlineKind.PLAN, date(2026, 2, 10), rung=Rung.NOTICE_LETTER)
    scenario.later()
    quarter_end = date(2026, 3, 31)

    report = await regenerate(dev_env.client, task_queue, ReportKind.QUARTERLY, quarter_end)
    with Session(engine) as session:
        row = session.get(ReportSnapshot, report.snapshot_id)
    assert row is not None
    assert row.filename == "2026年第一季度报告_截至20260331（重新生成）.xlsx"
    book = stored(report_worker, row)

    assert book.sheetnames == [
        "调度表（街道）",
        "调度表（部门）",
        "季度统计（街道）",
        "季度统计（行业领域）",
        "督办成效",
    ]
    streets = book["调度表（街道）"]
    assert merged(streets) == {"A1:H1", "A2:H2"}
    assert streets["A2"].value == "截至3月31日（2026年3月31日）累计"
    # As of 3-31: H11 (due 3-11) is late; H7 (4-15), H4 and H8 (4-30) not yet; H2 has no known deadline.
    assert lines_of(streets, STREET_A, STREET_B) == {
        STREET_A: [7, 3, 4, 1, 0, pytest.approx(42.86)],
        STREET_B: [3, 0, 3, 0, 0, 0],
    }
    assert rows(streets)[-1] == ["合计", None, 10, 3, 7, 1, 0, 30]
    departments = book["调度表（部门）"]
    assert departments["A1"].value == "南开区重大事故隐患排查整治进展情况调度表（部门填报）"
    assert [row[1] for row in rows(departments)[3:-1]] == [
        "南开区住房和建设委员会",
        "南开区城市管理委员会",
        "南开区应急管理局",
    ]

    by_street = book["季度统计（街道）"]
    assert merged(by_street) == {"A1:N1", "A2:N2"}
    assert by_street["A1"].value == "南开区2026年第一季度重大事故隐患排查整治情况统计表（按街道）"
    assert by_street["A2"].value == "2026年1月1日至2026年3月31日发现的隐患，截至3月31日"
    assert rows(by_street)[2] == [
        "序号", "街道", "发现数", "企业自查", "执法检查", "群众举报", "已销号", "整改中", "已撤销", "挂牌督办",
        "五到位", "整改率（%）", "整改资金（万元）", "销号用时中位数（天）",
    ]  # fmt: skip
    # Found in the quarter: all eleven, every one a self-inspection with a 5.8 万元 plan where it has one.
    # B: H4 H5 H6 H8 (H6 revoked); A: H1 H2 H3 H7 H9 H10 H11 (H1 H3 H10 closed). Plans: all but H5 H6.
    found = {row[1]: row[2:] for row in rows(by_street)[3:]}
    assert found[STREET_B][:9] == [4, 4, 0, 0, 0, 3, 1, 0, 2]
    assert found[STREET_A][:9] == [7, 7, 0, 0, 3, 4, 0, 0, 7]
    assert found[None][:9] == [11, 11, 0, 0, 3, 7, 1, 0, 9]
    assert rows(by_street)[-1][0] == "合计"
    assert found[None][9] == pytest.approx(27.27)
    assert found[None][10] == pytest.approx(9 * 5.8)
    assert book["季度统计（行业领域）"]["B3"].value == "行业领域"

    effect = rows(book["督办成效"])
    assert effect[2] == ["序号", "督办措施", "次数", "其后完成该阶段", "完成用时中位数（小时）"]
    assert effect[3] == [1, "函告", 1, 1, 744]
    assert row.summary["quarter_found"] == 11


# --- the API ---------------------------------------------------------------------------------------------------


async def test_api_permissions(api: ApiStack) -> None:
    body = {"kind": "dispatch_street", "as_of": "2026-03-11"}
    listed = await api.http.get("/reports", headers=api.auth(ENTERPRISE))
    assert listed.status_code == 403
    assert listed.headers["content-type"] == PROBLEM
    assert listed.json()["code"] == "RoleForbidden"
    assert (await api.http.get("/reports/1.xlsx", headers=api.auth(ENTERPRISE))).status_code == 403
    for actor in (ENTERPRISE, STREET, INSPECTOR, AUDITOR):
        denied = await api.http.post("/reports/regenerate", json=body, headers=api.auth(actor))
        assert denied.status_code == 403, actor.role
    for actor in (STREET, INSPECTOR, AUDITOR, COMMITTEE):
        assert (await api.http.get("/reports", headers=api.auth(actor))).status_code == 200, actor.role
    assert (await api.http.get("/reports")).status_code == 401
    missing = await api.http.get("/reports/999999.xlsx", headers=api.auth(AUDITOR))
    assert (missing.status_code, missing.json()["code"]) == (404, "ReportNotFound")


async def test_api_refuses_a_day_to_come(api: ApiStack) -> None:
    tomorrow = (TODAY + timedelta(days=1)).isoformat()
    response = await api.http.post(
        "/reports/regenerate", json={"kind": "quarterly", "as_of": tomorrow}, headers=api.auth(COMMITTEE)
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "as_of"
    bad_kind = await api.http.post(
        "/reports/regenerate", json={"kind": "weekly", "as_of": "2026-03-11"}, headers=api.auth(COMMITTEE)
    )
    assert bad_kind.status_code == 422


async def test_api_scheduled_snapshot_regenerated_list_and_download(api: ApiStack) -> None:
    # The API's database is shared by the session's API tests: streets and ids of this test's own.
    tag = uuid.uuid4().hex[:6]
    a, b = f"{STREET_A}{tag}", f"{STREET_B}{tag}"
    scenario: Scenario = build(api.engine, prefix=f"R{tag}-", a=a, b=b)
    kind = ReportKind.DISPATCH_DEPARTMENT
    entry = ScheduledWorkflow(
        id=f"test-api-{tag}",
        workflow=DISPATCH.workflow,
        input=ReportInput(kind=kind),
        spec=DISPATCH.spec,
        note="test",
    )
    await ensure_schedules(api.temporal, schedules=(entry,))
    handle = api.temporal.get_schedule_handle(entry.id)
    await handle.pause()
    headers = api.auth(COMMITTEE)
    try:
        before = await api.http.get("/reports", params={"kind": kind.value}, headers=headers)
        known = {row["id"] for row in before.json()["data"]}
        await handle.backfill(backfill_at(t(3, 12, 1)))

        async def taken() -> dict[str, Any] | None:
            listed = await api.http.get("/reports", params={"kind": kind.value}, headers=headers)
            fresh = [row for row in listed.json()["data"] if row["id"] not in known and row["trigger"] == "scheduled"]
            return fresh[0] if fresh else None

        scheduled = await poll(taken)
        assert (scheduled["as_of"], scheduled["trigger"]) == ("2026-03-11", "scheduled")
        snapshot = await download(api, scheduled, STREET)

        scenario.later()
        response = await api.http.post(
            "/reports/regenerate", json={"kind": kind.value, "as_of": "2026-03-11"}, headers=headers
        )
        assert response.status_code == 201, response.text
        regenerated = response.json()
        assert (regenerated["trigger"], regenerated["as_of"], regenerated["requested_by"]) == (
            "regenerated",
            "2026-03-11",
            COMMITTEE.id,
        )
        again = await api.http.post(
            "/reports/regenerate", json={"kind": kind.value, "as_of": "2026-03-11"}, headers=headers
        )
        assert (again.status_code, again.json()["id"]) == (200, regenerated["id"])

        # Other API tests' hazards are in these files too (the district is one): nothing of theirs moved since X, so
        # the files compare whole.
        regenerated_sheet = await download(api, regenerated, AUDITOR)
        assert rows(regenerated_sheet) == rows(snapshot)

        today = await api.http.post(
            "/reports/regenerate", json={"kind": kind.value, "as_of": TODAY.isoformat()}, headers=headers
        )
        assert today.status_code == 201
        assert rows(await download(api, today.json(), INSPECTOR))[3:] != rows(snapshot)[3:]

        listed = await api.http.get("/reports", params={"kind": kind.value}, headers=api.auth(STREET))
        ids = [row["id"] for row in listed.json()["data"]]
        assert ids[:3] == [today.json()["id"], regenerated["id"], scheduled["id"]]  # newest first
        assert listed.json()["count"] >= 3
        only_scheduled = await api.http.get(
            "/reports", params={"kind": kind.value, "trigger": "scheduled"}, headers=headers
        )
        assert {row["trigger"] for row in only_scheduled.json()["data"]} == {"scheduled"}

        # A file whose bytes no longer match the hash it was taken with is refused, not served.
        store = report_store(api.settings)
        assert isinstance(store, LocalEvidenceStore)
        path = store.path(regenerated["sha256"])
        path.write_bytes(path.read_bytes() + b"tampered")
        broken = await api.http.get(f"/reports/{regenerated['id']}.xlsx", headers=headers)
        assert (broken.status_code, broken.json()["code"]) == (500, "ReportCorrupted")
    finally:
        await handle.delete()


async def download(api: ApiStack, snapshot: dict[str, Any], actor: Actor) -> Worksheet:
    response = await api.http.get(f"/reports/{snapshot['id']}.xlsx", headers=api.auth(actor))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert response.headers["content-disposition"].startswith('attachment; filename="report-')
    assert hashlib.sha256(response.content).hexdigest() == snapshot["sha256"]
    sheet = workbook(response.content).active
    assert isinstance(sheet, Worksheet)
    return sheet
