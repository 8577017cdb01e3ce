"""Ledger import: every bad row reported in Chinese, nothing imported until clean (or only the valid rows),
no duplicates on re-import, hazards opened in their recorded stage with their original dates, an export
read back in, and the API's job endpoints with their permissions. Against the real API, worker and dev server.
"""

import asyncio
import io
import random
import re
import uuid
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook
from openpyxl.utils import get_column_letter
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError
from temporalio.worker import Replayer

from contracts.clock import CHINA_TZ, china_date, day_start
from contracts.deadlines import DeadlineKind, Rag, Rung
from contracts.enums import Action, Industry, Role, Source, Stage
from contracts.hazard import PROJECT_HAZARD_ACTIVITY, Actor, HazardState, workflow_id
from imports import creditcode, jobs
from imports.demo import credit_code
from imports.district import NANKAI
from imports.layout import COLUMNS, EXPORTED, HEADER_KEYS, normalise_header
from imports.parse import read_ledger
from imports.validate import Context, validate
from readmodel import admin_queries, queries
from readmodel.models import Hazard, HazardEventRow, ImportJobRow
from tests.attempts import attempts
from tests.conftest import ApiStack
from tests.keys import CONVERTER
from tests.scenarios import AUDITOR, COMMITTEE, ENTERPRISE, STREET, report
from workcalendar import WorkCalendar
from workflows.hazard import HazardWorkflow

NOW = datetime.now(CHINA_TZ)
TODAY = china_date(NOW)
CALENDAR = WorkCalendar()
FIRE = Actor(
    id="dept-fire-1", name="张伟", role=Role.DEPARTMENT, organisation="南开区消防救援支队", industries=[Industry.FIRE]
)
FIRE_COLLEAGUE = FIRE.model_copy(update={"id": "dept-fire-2", "name": "李娜"})
BUILDING = Actor(
    id="dept-build-1",
    name="周平",
    role=Role.DEPARTMENT,
    organisation="南开区住房和建设委员会",
    industries=[Industry.CONSTRUCTION],
)
HEADERS = [c.header for c in COLUMNS]
CJK = re.compile(r"[\u4e00-\u9fff]")


def workday(offset: int) -> date:
    """The working day `offset` working days from today (0: today or the next working day)."""
    return CALENDAR.add_workdays(TODAY, offset).day


def tag() -> str:
    return uuid.uuid4().hex[:8]


# A hazard without a plan yet (VERIFY, PLAN).
NO_PLAN: dict[str, Any] = dict.fromkeys(
    ("measures", "responsible_person", "responsible_phone", "rectify_deadline", "emergency_plan", "funds_wan"),
) | {"control_measures": None}


def row(marker: str, n: int, **fields: Any) -> dict[str, Any]:
    """A valid row of a fire hazard in RECTIFY, new to the system; `fields` override by column key."""
    rng = random.Random(f"{marker}-{n}")
    values: dict[str, Any] = {
        "title": f"自动喷水灭火系统瘫痪{marker}-{n}",
        "enterprise_name": f"天津市南开区测试{marker}{n}商贸有限公司",
        "credit_code": credit_code(rng, NANKAI.code),
        "street": "王顶堤街道",
        "industry": "消防",
        "department": "南开区消防救援支队",
        "source": "执法检查",
        "criterion": "《重大火灾隐患判定方法》（GB 35181-2017）第7.9条",
        "found_on": TODAY - timedelta(days=30),
        "stage": "整改",
        "location": "南开区复康路 8 号地下一层",
        "principal_name": "王强",
        "principal_phone": "13800000000",
        "measures": "维修消防水泵和报警阀组，恢复系统联动",
        "responsible_person": "刘洋",
        "responsible_phone": "13900000000",
        "rectify_deadline": workday(20),
        "funds_wan": Decimal("5.8"),
        "emergency_plan": "灭火和应急疏散预案",
        "control_measures": "设置警戒区，专人值守",
    }
    values.update(fields)
    return {k: v for k, v in values.items() if v is not None}


def ledger(rows: Sequence[dict[str, Any]], headers: Sequence[str] = HEADERS, *, title_rows: int = 2) -> bytes:
    """A ledger as a district keeps it: merged title rows, then the header row, then one row per hazard."""
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "重大隐患督改台账"
    keys = [HEADER_KEYS[normalise_header(h)].key for h in headers]
    for n in range(title_rows):
        sheet.append(["南开区重大事故隐患督改台账" if n == 0 else f"截至{TODAY.year}年{TODAY.month}月{TODAY.day}日"])
        sheet.merge_cells(start_row=n + 1, start_column=1, end_row=n + 1, end_column=len(headers))
    sheet.append(list(headers))
    for values in rows:
        sheet.append([values.get(key) for key in keys])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


async def upload(
    api: ApiStack, actor: Actor, content: bytes, *, only_valid: bool = False, name: str = "台账.xlsx"
) -> Any:
    return await api.http.post(
        "/imports",
        headers=api.auth(actor),
        files={"file": (name, content, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")},
        data={"only_valid": "true" if only_valid else "false"},
    )


async def finished(api: ApiStack, actor: Actor, job_id: str) -> dict[str, Any]:
    """Poll the job until it ends (90 s at most); every answer on the way must be a well-formed ImportJob."""
    loop = asyncio.get_running_loop()
    end = loop.time() + 90
    while loop.time() < end:
        answer = await api.http.get(f"/imports/{job_id}", headers=api.auth(actor))
        assert answer.status_code == 200, answer.text
        job: dict[str, Any] = jobs.ImportJob.model_validate(answer.json()).model_dump()
        if job["status"] not in jobs.RUNNING:
            return job
        await asyncio.sleep(0.1)
    raise AssertionError(f"import {job_id} still running after 90 s")


async def run_import(api: ApiStack, actor: Actor, content: bytes, *, only_valid: bool = False) -> dict[str, Any]:
    answer = await upload(api, actor, content, only_valid=only_valid)
    assert answer.status_code == 202, answer.text
    started = answer.json()
    assert started["status"] == "validating"
    return await finished(api, actor, started["id"])


async def opened(api: ApiStack, hazard_id: str) -> HazardState:
    """The hazard's state once its workflow is open (policy loaded, first deadline armed, projected)."""
    handle = api.temporal.get_workflow_handle_for(HazardWorkflow.run, workflow_id(hazard_id))
    try:
        return await handle.execute_update(HazardWorkflow.opened)
    except RPCError:
        # Closed or revoked per its ledger: the workflow opened and finished at once.
        return await handle.result()


def hazards_titled(api: ApiStack, marker: str) -> list[Hazard]:
    with Session(api.engine) as session:
        return list(session.exec(select(Hazard).where(col(Hazard.title).contains(marker))).all())


async def projected(api: ApiStack, marker: str, count: int) -> list[Hazard]:
    for _ in range(600):
        found = hazards_titled(api, marker)
        if len(found) >= count:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"{count} hazards marked {marker} not in the read model")


# --- validation -------------------------------------------------------------------------------------------


def bad_rows(marker: str) -> tuple[list[dict[str, Any]], dict[int, tuple[str, str]]]:
    """One good row, then one bad row per kind of problem; expected (column, words in the reason) by row."""
    good = row(marker, 0, hazard_id=f"T{marker}-0")
    duplicate_of = row(marker, 1, hazard_id=f"T{marker}-1")
    bad = [
        (row(marker, 2, enterprise_name=None), ("企业名称", "必填")),
        (row(marker, 3, street="南京路街道"), ("所属街道", "不是本区的街道")),
        (row(marker, 4, industry="采矿"), ("行业领域", "未知的行业领域")),
        (row(marker, 5, credit_code="91120104MA05000010"), ("统一社会信用代码", "校验位不正确")),
        (row(marker, 6, found_on="2026年13月45日"), ("发现日期", "日期格式不正确")),
        (row(marker, 7, found_on=TODAY + timedelta(days=3)), ("发现日期", "不能晚于今天")),
        (row(marker, 8, funds_wan=Decimal("-3")), ("整改资金（万元）", "不能为负数")),
        (row(marker, 9, stage="整改完毕"), ("当前阶段", "未知的阶段")),
        (row(marker, 10, hazard_id=f"T{marker}-1"), ("隐患编号", "与第 5 行重复")),
        (row(marker, 11, principal_phone="12345"), ("主要负责人电话", "电话格式不正确")),
        (row(marker, 12, stage="审核验收"), ("整改完成日期", "审核验收")),
    ]
    rows = [good, duplicate_of, *(r for r, _ in bad)]
    # Row 4 is the first data row (two title rows, the header).
    expected = {n: problem for n, (_, problem) in enumerate(bad, 6)}
    return rows, expected


async def test_every_bad_row_is_reported_in_chinese_and_nothing_is_imported(api: ApiStack) -> None:
    marker = tag()
    rows, expected = bad_rows(marker)
    job = await run_import(api, COMMITTEE, ledger(rows))
    assert job["status"] == "invalid"
    assert (job["total_rows"], job["valid_rows"], job["imported"], job["skipped"]) == (len(rows), 2, 0, 0)
    by_row: dict[int, list[tuple[str, str]]] = {}
    for error in job["errors"]:
        assert CJK.search(error["message"]), error
        by_row.setdefault(error["row"], []).append((error["column"], error["message"]))
    assert set(by_row) == set(expected), by_row
    for number, (column, words) in expected.items():
        assert any(c == column and words in m for c, m in by_row[number]), (number, by_row[number])
    await asyncio.sleep(0.5)
    assert hazards_titled(api, marker) == []
    with Session(api.engine) as session:
        stored = session.get(ImportJobRow, job["id"])
        assert stored is not None
        assert stored.status == "invalid"
        assert stored.imported == 0


async def test_only_valid_imports_the_good_rows_and_still_reports_the_bad(api: ApiStack) -> None:
    marker = tag()
    rows, expected = bad_rows(marker)
    job = await run_import(api, COMMITTEE, ledger(rows), only_valid=True)
    assert job["status"] == "done"
    assert (job["valid_rows"], job["imported"], job["skipped"]) == (2, 2, 0)
    assert {e["row"] for e in job["errors"]} == set(expected)
    imported = await projected(api, marker, 2)
    assert sorted(h.hazard_id for h in imported) == [f"T{marker}-0", f"T{marker}-1"]


async def test_reimporting_the_same_file_creates_nothing_twice(api: ApiStack) -> None:
    marker = tag()
    # Keyed by their 隐患编号, and (no number) by credit code, name and found date.
    content = ledger([row(marker, 0, hazard_id=f"T{marker}-0"), row(marker, 1), row(marker, 2)])
    first = await run_import(api, COMMITTEE, content)
    assert (first["status"], first["imported"], first["skipped"]) == ("done", 3, 0)
    await projected(api, marker, 3)
    again = await run_import(api, COMMITTEE, content)
    assert (again["status"], again["imported"], again["skipped"], again["errors"]) == ("done", 0, 3, [])
    # Before the worker has projected them, a second import finds the workflows themselves and skips them too.
    fresh = tag()
    racing = ledger([row(fresh, 0), row(fresh, 1, hazard_id=f"T{fresh}-1")])
    both = await asyncio.gather(run_import(api, COMMITTEE, racing), run_import(api, COMMITTEE, racing))
    assert sorted((j["imported"], j["skipped"]) for j in both) in ([(0, 2), (2, 0)], [(1, 1), (1, 1)])
    await asyncio.sleep(1)
    assert len(await projected(api, marker, 3)) == 3
    assert len(await projected(api, fresh, 2)) == 2


# --- hazards in their recorded stage ----------------------------------------------------------------------


async def test_imported_hazards_open_in_their_stage_with_their_original_dates(api: ApiStack) -> None:
    marker = tag()
    found = workday(-60)
    long_overdue = workday(-30)  # every rung up to 挂牌督办 (20 WD after) passed before the import
    recently_due = workday(-3)  # 函告 (1 WD after) passed; 约谈 (10 WD after) still to come
    rectified = workday(-2)
    ids = {name: f"T{marker}-{name}" for name in ("red", "summons", "plan", "review", "closed", "listed", "verify")}
    rows = [
        row(marker, 0, hazard_id=ids["red"], source="企业自查", rectify_deadline=long_overdue, found_on=found),
        row(marker, 1, hazard_id=ids["summons"], rectify_deadline=recently_due, found_on=found),
        row(marker, 2, hazard_id=ids["plan"], stage="制定整改方案", found_on=TODAY - timedelta(days=1), **NO_PLAN),
        row(marker, 3, hazard_id=ids["review"], stage="审核验收", found_on=found, rectified_on=rectified),
        row(
            marker,
            4,
            hazard_id=ids["closed"],
            stage="已销号",
            found_on=date(TODAY.year - 1, 3, 2),
            rectify_deadline=date(TODAY.year - 1, 6, 30),
            rectified_on=date(TODAY.year - 1, 6, 20),
            closed_on="2025年6月28日" if TODAY.year == 2026 else date(TODAY.year - 1, 6, 28),
        ),
        row(
            marker,
            5,
            hazard_id=ids["listed"],
            rectify_deadline=long_overdue,
            found_on=found,
            listed="是",
            listing_doc_number=f"南开安委办挂〔{TODAY.year}〕{marker}号",
            listed_on=workday(-5),
        ),
        row(
            marker,
            6,
            hazard_id=ids["verify"],
            stage="查实",
            source="举报",
            found_on=TODAY - timedelta(days=10),
            **NO_PLAN,
        ),
    ]
    before = datetime.now(CHINA_TZ)
    job = await run_import(api, COMMITTEE, ledger(rows))
    assert (job["status"], job["imported"], job["errors"]) == ("done", len(rows), []), job["errors"]
    states = {name: await opened(api, hazard_id) for name, hazard_id in ids.items()}

    red = states["red"]
    assert red.stage is Stage.RECTIFY
    assert red.imported is not None
    assert red.report.found_at == day_start(found)
    assert red.plan is not None
    assert red.plan.deadline == long_overdue
    (deadline,) = red.deadlines
    assert (deadline.kind, deadline.due_date) == (DeadlineKind.RECTIFY, long_overdue)
    assert red.rag is Rag.RED
    assert red.escalation_level == 0
    assert red.escalations == []
    # The letters whose time had passed were never issued; only the colour marks stand, fired at their times.
    assert {r.rung for r in deadline.rungs} == {Rung.OVERDUE, Rung.REMINDER}
    assert all(r.fired_at is not None and r.fired_at < before for r in deadline.rungs)
    # A self-reported hazard already late is no longer exempt from penalty.
    assert red.penalty_exempt is False

    summons = states["summons"]
    (deadline,) = summons.deadlines
    rungs = {r.rung: r for r in deadline.rungs}
    assert summons.rag is Rag.RED
    assert summons.escalations == []
    assert Rung.NOTICE_LETTER not in rungs  # passed before the import: not sent
    assert rungs[Rung.SUMMONS].fired_at is None
    assert rungs[Rung.SUMMONS].at > before
    assert rungs[Rung.LISTING].fired_at is None
    assert china_date(rungs[Rung.SUMMONS].at) == CALENDAR.add_workdays(recently_due, 10).day

    plan = states["plan"]
    (deadline,) = plan.deadlines
    assert plan.stage is Stage.PLAN
    assert plan.plan is None
    assert deadline.kind is DeadlineKind.PLAN
    assert deadline.due_date == CALENDAR.add_workdays(TODAY - timedelta(days=1), 5).day
    assert plan.rag is not Rag.RED

    review = states["review"]
    (deadline,) = review.deadlines
    assert review.stage is Stage.REVIEW
    assert review.imported is not None
    assert review.imported.rectified_on == rectified
    assert (deadline.kind, deadline.due_date) == (DeadlineKind.REVIEW, CALENDAR.add_workdays(rectified, 10).day)

    closed = states["closed"]
    assert closed.stage is Stage.CLOSED
    assert closed.deadlines == []
    assert closed.closed_at == day_start(date(TODAY.year - 1, 6, 28))
    handle = api.temporal.get_workflow_handle(workflow_id(ids["closed"]))
    assert (await handle.describe()).status is WorkflowExecutionStatus.COMPLETED

    listed = states["listed"]
    assert listed.listing is not None
    assert listed.listing.order.doc_number == f"南开安委办挂〔{TODAY.year}〕{marker}号"
    assert listed.listing.listed_at == day_start(workday(-5))

    verify = states["verify"]
    (deadline,) = verify.deadlines
    assert verify.stage is Stage.VERIFY
    assert deadline.due_date == CALENDAR.add_workdays(TODAY - timedelta(days=10) + timedelta(days=60), 0).day

    # The read model and the event an auditor reads.
    rows_by_id = {h.hazard_id: h for h in await projected(api, marker, len(ids))}
    assert rows_by_id[ids["red"]].rag == Rag.RED
    assert rows_by_id[ids["red"]].rectify_deadline == long_overdue
    assert rows_by_id[ids["listed"]].listed is True
    assert rows_by_id[ids["closed"]].stage == Stage.CLOSED
    assert rows_by_id[ids["closed"]].rectify_deadline == date(TODAY.year - 1, 6, 30)
    with Session(api.engine) as session:
        first = session.exec(
            select(HazardEventRow).where(HazardEventRow.hazard_id == ids["review"], HazardEventRow.seq == 1)
        ).one()
    assert first.action == Action.REPORT.value
    assert first.actor_id == COMMITTEE.id
    assert (first.stage_before, first.stage_after) == (None, Stage.REVIEW)
    stored = session_job(api, job["id"])
    assert first.payload["imported"]["row"] == 7
    assert first.payload["imported"]["file_sha256"] == stored.file_sha256

    # The importer read the policy once and sent it with every row, and counted each row's first deadline: no hazard
    # loaded its own policy or counted its own deadline, and the deadlines above are the ones it counted.
    history = await api.temporal.get_workflow_handle(workflow_id(ids["summons"])).fetch_history()
    assert [activity for activity, _ in attempts(history)] == [PROJECT_HAZARD_ACTIVITY]
    with Session(api.engine) as session:
        assert summons.policy_version == admin_queries.current_policy(session=session).version

    # The new commands replay: an imported hazard's history against today's workflow code.
    replay = await Replayer(workflows=[HazardWorkflow], data_converter=CONVERTER).replay_workflow(history)
    assert replay.replay_failure is None


def session_job(api: ApiStack, job_id: str) -> ImportJobRow:
    with Session(api.engine) as session:
        stored = session.get(ImportJobRow, job_id)
    assert stored is not None
    return stored


async def test_an_imported_hazard_goes_on_through_the_lifecycle(api: ApiStack) -> None:
    marker = tag()
    hazard_id = f"T{marker}-0"
    job = await run_import(api, COMMITTEE, ledger([row(marker, 0, hazard_id=hazard_id, industry="消防")]))
    assert job["status"] == "done"
    await opened(api, hazard_id)
    enterprise = ENTERPRISE.model_copy(update={"credit_code": row(marker, 0)["credit_code"]})
    answer = await api.http.post(
        f"/hazards/{hazard_id}/rectification",
        headers=api.auth(enterprise),
        json={"description": "已维修水泵", "completed_on": TODAY.isoformat(), "evidence": ["sha256:ab12"]},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["state"]["stage"] == Stage.REVIEW.value
    reviewed = await api.http.post(
        f"/hazards/{hazard_id}/review",
        headers=api.auth(FIRE),
        json={"decision": "approve", "opinion": "整改到位，同意销号"},
    )
    assert reviewed.status_code == 200, reviewed.text
    assert reviewed.json()["state"]["stage"] == Stage.CLOSED.value


# --- numbering ----------------------------------------------------------------------------------------------


def test_a_batch_of_keys_is_numbered_in_order_and_each_key_once(engine: Engine) -> None:
    now = datetime.now(CHINA_TZ)
    district = NANKAI.code

    def serial(hazard_id: str) -> int:
        return int(hazard_id.rsplit("-", 1)[1])

    with Session(engine) as session:
        before = queries.allocate_hazard_id(session=session, district=district, now=now, request_id=None)
        first = queries.allocate_hazard_ids(
            session=session, district=district, now=now, request_ids=["a", "b", "a", "c"]
        )
        second = queries.allocate_hazard_ids(session=session, district=district, now=now, request_ids=["c", "d", "b"])
        retried = queries.allocate_hazard_id(session=session, district=district, now=now, request_id="d")
        after = queries.allocate_hazard_id(session=session, district=district, now=now, request_id=None)
    base = serial(before.hazard_id)
    assert {key: serial(hazard_id) for key, hazard_id in first.items()} == {"a": base + 1, "b": base + 2, "c": base + 3}
    # Keys already numbered keep their ids; only the new one takes the next serial.
    assert second == {"c": first["c"], "b": first["b"], "d": f"{district}-{now.year}-{base + 4:05d}"}
    assert retried == queries.Allocation(second["d"], existing=True)
    assert serial(after.hazard_id) == base + 5


async def test_a_ledger_id_in_this_systems_form_is_never_allocated_again(api: ApiStack) -> None:
    marker = tag()
    reported = await api.http.post(
        "/hazards", json=report().model_dump(mode="json", exclude_none=True), headers=api.auth(ENTERPRISE)
    )
    assert reported.status_code == 201, reported.text
    prefix, last = reported.json()["hazard_id"].rsplit("-", 1)
    ledger_ids = [f"{prefix}-{int(last) + gap:05d}" for gap in (40, 20)]
    rows = [row(marker, n, hazard_id=hazard_id) for n, hazard_id in enumerate(ledger_ids)]
    job = await run_import(api, COMMITTEE, ledger([*rows, row(marker, 2)]))
    assert (job["status"], job["imported"]) == ("done", 3), job["errors"]
    numbered = {h.hazard_id for h in await projected(api, marker, 3)}
    # The row without an id is numbered after the highest id the ledger brought, and so is the next report.
    assert numbered == {*ledger_ids, f"{prefix}-{int(last) + 41:05d}"}
    after = await api.http.post(
        "/hazards", json=report().model_dump(mode="json", exclude_none=True), headers=api.auth(ENTERPRISE)
    )
    assert after.json()["hazard_id"] == f"{prefix}-{int(last) + 42:05d}"


# --- round trip -------------------------------------------------------------------------------------------


async def test_an_export_imports_back_as_the_same_hazards(api: ApiStack) -> None:
    marker = tag()
    content = ledger([row(marker, 0), row(marker, 1, stage="审核验收", rectified_on=workday(-1)), row(marker, 2)])
    assert (await run_import(api, COMMITTEE, content))["imported"] == 3
    await projected(api, marker, 3)
    exported = await api.http.get("/ledgers/rectification.xlsx", params={"q": marker}, headers=api.auth(COMMITTEE))
    assert exported.status_code == 200
    sheet = load_workbook(io.BytesIO(exported.content)).active
    assert sheet is not None
    assert sheet.max_row == 3 + 3
    again = await run_import(api, COMMITTEE, exported.content)
    assert (again["status"], again["total_rows"], again["valid_rows"]) == ("done", 3, 3), again["errors"]
    assert (again["imported"], again["skipped"], again["errors"]) == (0, 3, [])
    assert len(hazards_titled(api, marker)) == 3


def test_an_export_needs_the_contacts_to_open_hazards_new_to_a_system(tmp_path: Path) -> None:
    """Read into a system that does not know them, an export's rows need what it leaves out."""
    marker = tag()
    exported_headers = [c.header for c in EXPORTED]
    path = tmp_path / "export.xlsx"
    path.write_bytes(ledger([row(marker, 0, stage="已销号", closed_on=TODAY)], exported_headers))
    header, rows = read_ledger(path)
    context = Context(
        actor=COMMITTEE, now=NOW, file_sha256="0" * 64, streets=frozenset(NANKAI.streets), listing_issuer="区安委办"
    )
    result = validate(rows, header, context, lambda keys: {})
    assert {p.column for p in result.problems} == {"隐患部位", "主要负责人", "主要负责人电话"}


# --- the API: progress, permissions, template ------------------------------------------------------------


async def test_a_larger_import_reports_progress_and_counts_every_row(api: ApiStack) -> None:
    marker = tag()
    rows = [row(marker, n, found_on=TODAY - timedelta(days=n % 200)) for n in range(150)]
    answer = await upload(api, COMMITTEE, ledger(rows))
    assert answer.status_code == 202
    job_id = answer.json()["id"]
    seen: list[tuple[str, int, int]] = []
    loop = asyncio.get_running_loop()
    end = loop.time() + 120
    while loop.time() < end:
        job = (await api.http.get(f"/imports/{job_id}", headers=api.auth(COMMITTEE))).json()
        seen.append((job["status"], job["imported"], job["skipped"]))
        if job["status"] not in jobs.RUNNING:
            break
        await asyncio.sleep(0.05)
    assert seen[-1] == ("done", 150, 0)
    # Counts only grow, and the job went through its phases in order.
    phases = [s for s, _, _ in seen]
    assert phases == sorted(phases, key=["validating", "importing", "done"].index)
    assert [i for _, i, _ in seen] == sorted(i for _, i, _ in seen)
    assert len(await projected(api, marker, 150)) == 150


async def test_who_may_import_and_follow_an_import(api: ApiStack) -> None:
    marker = tag()
    content = ledger([row(marker, 0)])
    for outsider in (ENTERPRISE, STREET, AUDITOR):
        refused = await upload(api, outsider, content)
        assert refused.status_code == 403
        assert refused.json()["code"] == "RoleForbidden"
        assert CJK.search(refused.json()["detail"])
    assert (await api.http.post("/imports", files={"file": ("a.xlsx", content)})).status_code == 401

    # A department imports the rows of its own industries only.
    mixed = ledger([row(marker, 1), row(marker, 2, industry="建筑施工", department="南开区住房和建设委员会")])
    job = await run_import(api, FIRE, mixed)
    assert job["status"] == "invalid"
    assert [(e["row"], e["column"]) for e in job["errors"]] == [(5, "行业领域")]
    assert "不在本部门监管的行业领域内" in job["errors"][0]["message"]

    own = await run_import(api, FIRE, ledger([row(marker, 3)]))
    assert own["status"] == "done"
    assert own["imported"] == 1
    # Its colleagues follow it, the committee office and auditors too; another department, an enterprise not.
    for reader, status in ((FIRE_COLLEAGUE, 200), (COMMITTEE, 200), (AUDITOR, 200), (BUILDING, 404)):
        answer = await api.http.get(f"/imports/{own['id']}", headers=api.auth(reader))
        assert answer.status_code == status, (reader.id, answer.text)
    answer = await api.http.get(f"/imports/{own['id']}", headers=api.auth(ENTERPRISE))
    assert answer.status_code == 403
    missing = await api.http.get(f"/imports/{uuid.uuid4().hex}", headers=api.auth(COMMITTEE))
    assert missing.status_code == 404
    assert missing.json()["code"] == "ImportJobNotFound"


async def test_a_file_that_is_not_a_ledger_is_refused(api: ApiStack) -> None:
    wrong_type = await upload(api, COMMITTEE, b"%PDF-1.7 not a workbook", name="台账.pdf")
    assert wrong_type.status_code == 415
    disguised = await upload(api, COMMITTEE, b"just text, not a zip", name="台账.xlsx")
    assert disguised.status_code == 415
    no_header = Workbook()
    sheet = no_header.active
    assert sheet is not None
    sheet.append(["名单"])
    sheet.append(["张三", "李四"])
    out = io.BytesIO()
    no_header.save(out)
    job = await run_import(api, COMMITTEE, out.getvalue())
    assert job["status"] == "invalid"
    assert job["total_rows"] == 0
    assert job["errors"][0]["row"] == 0
    assert "表头" in job["errors"][0]["message"]
    missing_column = ledger([row(tag(), 0)], [h for h in HEADERS if h != "当前阶段"])
    job = await run_import(api, COMMITTEE, missing_column)
    assert job["status"] == "invalid"
    assert job["errors"] == [{"row": 3, "column": "当前阶段", "message": "缺少必需的列「当前阶段」"}]


async def test_the_template_is_an_empty_ledger_that_validates(api: ApiStack, tmp_path: Path) -> None:
    answer = await api.http.get("/imports/template.xlsx", headers=api.auth(COMMITTEE))
    assert answer.status_code == 200
    workbook = load_workbook(io.BytesIO(answer.content))
    sheet = workbook["重大隐患督改台账"]
    assert [c.value for c in sheet[3]] == HEADERS
    assert f"A1:{get_column_letter(len(HEADERS))}1" in {str(r) for r in sheet.merged_cells.ranges}
    assert sheet.max_row == 3
    assert "填写说明" in workbook.sheetnames
    assert (await api.http.get("/imports/template.xlsx", headers=api.auth(ENTERPRISE))).status_code == 403
    # Filled in, the template imports.
    sheet.append([row(tag(), 0).get(HEADER_KEYS[normalise_header(h)].key) for h in HEADERS])
    out = io.BytesIO()
    workbook.save(out)
    job = await run_import(api, COMMITTEE, out.getvalue())
    assert (job["status"], job["imported"]) == ("done", 1), job["errors"]


# --- pieces -----------------------------------------------------------------------------------------------


def test_credit_code_check_character() -> None:
    assert creditcode.problem("91440300708461136T") is None  # a real one
    assert creditcode.problem("91440300708461136X") == "统一社会信用代码校验位不正确，请核对"
    assert creditcode.problem("9144030070846113") is not None
    assert "I" in (creditcode.problem("91440300708461136I") or "")
    rng = random.Random(1)
    assert all(creditcode.problem(credit_code(rng, "120104")) is None for _ in range(200))


def test_a_silent_running_job_reads_as_failed() -> None:
    now = datetime.now(CHINA_TZ)
    stored = ImportJobRow(
        id="a" * 32,
        filename="台账.xlsx",
        file_sha256="0" * 64,
        status="importing",
        imported=40,
        created_by_id="co-001",
        created_by_name="陈静",
        created_by_role="committee_office",
        created_by_organisation="南开区安委办",
        created_at=now - timedelta(minutes=5),
        updated_at=now - jobs.STALE_AFTER - timedelta(seconds=1),
    )
    job = jobs.public(stored, now)
    assert job.status == "failed"
    assert job.imported == 40
    assert job.errors[-1].message == jobs.INTERRUPTED
    stored.updated_at = now - timedelta(seconds=5)
    assert jobs.public(stored, now).status == "importing"


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        (date(2026, 3, 5), date(2026, 3, 5)),
        (datetime(2026, 3, 5, 9, 30), date(2026, 3, 5)),
        ("2026年3月5日", date(2026, 3, 5)),
        ("2026-03-05", date(2026, 3, 5)),
        ("2026/3/5", date(2026, 3, 5)),
        ("2026.03.05", date(2026, 3, 5)),
        (46086, date(2026, 3, 5)),  # a date typed without a date format: Excel's serial number
        ("2026年2月30日", None),
        ("下周一", None),
    ],
)
def test_dates_as_ledgers_write_them(tmp_path: Path, cell: Any, expected: date | None) -> None:
    path = tmp_path / "dates.xlsx"
    path.write_bytes(ledger([row(tag(), 0, found_on=cell, stage="制定整改方案", **NO_PLAN)]))
    header, rows = read_ledger(path)
    context = Context(
        actor=COMMITTEE,
        now=datetime(2026, 11, 24, 10, tzinfo=CHINA_TZ),
        file_sha256="0" * 64,
        streets=frozenset(NANKAI.streets),
        listing_issuer="区安委办",
    )
    result = validate(rows, header, context, lambda keys: {})
    if expected is None:
        assert next((p.column, p.message) for p in result.problems) == (
            "发现日期",
            "日期格式不正确，应为 2026年3月5日 或 2026-03-05",
        )
    else:
        assert result.problems == []
        assert result.items[0].report.found_at == day_start(expected)
        assert result.items[0].report.source is Source.INSPECTION
