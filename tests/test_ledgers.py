"""台账 and 调度表: written from the read model, reopened with openpyxl and checked cell by cell."""

import io
import itertools
import time
import tracemalloc
import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from openpyxl import load_workbook
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy import Engine, insert
from sqlmodel import Session

from contracts.clock import CHINA_TZ
from contracts.deadlines import Rag
from contracts.enums import Action, Industry, InterimControlKind, Source, Stage
from contracts.hazard import Actor, ImportedHazard, InterimControl, Verification
from ledgers import queries, xlsx
from readmodel.models import Hazard
from readmodel.projection import write_projection
from readmodel.queries import HazardFilter
from tests.conftest import ApiStack
from tests.scenarios import COMMITTEE, CREDIT_CODE, ENTERPRISE, INSPECTOR, STREET, plan, report
from tests.test_dispatch_as_of import Walk
from workflows.lifecycle import apply, open_hazard, open_imported

pytestmark = pytest.mark.databases

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=CHINA_TZ)
TODAY = date(2026, 11, 23)
OTHER_STREET = "万兴街道"
EVERYTHING = HazardFilter()


def hazard(number: int, **fields: Any) -> dict[str, Any]:
    found = datetime(2026, 6, 1, 10, 0, tzinfo=CHINA_TZ) + timedelta(days=number % 100)
    return {
        "hazard_id": f"120104-2026-{number:05d}",
        "title": f"隐患{number}",
        "description": "可燃气体报警器未联锁",
        "enterprise_name": "天津市南开区恒达化工有限公司",
        "enterprise_credit_code": CREDIT_CODE,
        "street": STREET.street,
        "industry": Industry.HAZARDOUS_CHEMICALS,
        "department": "南开区应急管理局",
        "source": Source.SELF_INSPECTION,
        "criterion_standard": "《化工和危险化学品生产经营单位重大生产安全事故隐患判定标准》",
        "criterion_clause": "第十条",
        "location": "2 号储罐区",
        "found_at": found,
        "reported_at": found,
        "reporter_id": "ent-001",
        "reporter_name": "王强",
        "stage": Stage.RECTIFY,
        "five_in_place": True,
        "funds_yuan": Decimal("58000.00"),
        "rectify_deadline": date(2026, 12, 31),
        "next_deadline": datetime(2026, 12, 31, 17, 0, tzinfo=CHINA_TZ),
        "closed_at": None,
        "rag": Rag.GREEN,
        "escalation_level": 0,
        "listed": False,
        "rejection_count": 0,
        "penalty_exempt": False,
        "policy_version": 1,
        "deadline_provisional": False,
        "version": 3,
        "updated_at": found,
        **fields,
    }


def seed(engine: Engine, rows: list[dict[str, Any]]) -> None:
    with engine.begin() as conn:
        conn.execute(insert(Hazard), rows)


def reopen(write: Any) -> Worksheet:
    out = io.BytesIO()
    write(out)
    out.seek(0)
    sheet = load_workbook(out).active
    assert isinstance(sheet, Worksheet)
    return sheet


def values(sheet: Worksheet, row: int) -> list[Any]:
    return [cell.value for cell in sheet[row]]


def merged(sheet: Worksheet) -> set[str]:
    return {str(r) for r in sheet.merged_cells.ranges}


def rectification(engine: Engine, actor: Actor, version: xlsx.LedgerVersion = "department", **where: Any) -> Worksheet:
    with Session(engine) as session:
        rows = queries.rectification_rows(session=session, actor=actor, where=HazardFilter(**where), now=NOW)
        return reopen(lambda out: xlsx.write_rectification(out, rows, version=version, district="南开区", as_of=TODAY))


@pytest.fixture
def seeded(engine: Engine) -> Engine:
    seed(
        engine,
        [
            hazard(1, rag=Rag.RED, escalation_level=3, listed=True, next_deadline=NOW - timedelta(days=2)),
            hazard(
                2,
                stage=Stage.CLOSED,
                closed_at=datetime(2026, 11, 20, 9, 0, tzinfo=CHINA_TZ),
                next_deadline=None,
                funds_yuan=Decimal("12345.00"),
            ),
            hazard(
                3,
                street=OTHER_STREET,
                enterprise_name="天津市南开区万兴商贸有限公司",
                enterprise_credit_code="91120104MA0500002X",
                department="南开区商务局",
                industry=Industry.INDUSTRY_TRADE,
                funds_yuan=None,
            ),
            hazard(4, stage=Stage.REVOKED, next_deadline=None),
        ],
    )
    return engine


def test_department_ledger_has_merged_titles_chinese_headers_dates_and_ten_thousands(seeded: Engine) -> None:
    sheet = rectification(seeded, COMMITTEE)

    assert merged(sheet) == {"A1:S1", "A2:S2"}
    assert sheet["A1"].value == "南开区重大事故隐患督改台账"
    assert sheet["A2"].value == "截至2026年11月23日"
    assert values(sheet, 3) == [
        "序号", "隐患编号", "隐患名称", "企业名称", "统一社会信用代码", "所属街道", "行业领域", "负责部门",
        "隐患来源", "判定依据", "发现日期", "整改时限", "当前阶段", "五到位", "整改资金（万元）", "红黄绿",
        "督办层级", "是否挂牌", "销号日期",
    ]  # fmt: skip
    first = dict(zip(values(sheet, 3), values(sheet, 4), strict=True))
    assert first["序号"] == 1
    assert first["隐患编号"] == "120104-2026-00001"
    assert first["发现日期"] == "2026年6月2日"
    assert first["整改时限"] == "2026年12月31日"
    assert first["当前阶段"] == "整改"
    assert first["整改资金（万元）"] == pytest.approx(5.8)
    assert sheet["O4"].number_format == "0.00"
    assert (first["红黄绿"], first["督办层级"], first["是否挂牌"]) == ("红", "挂牌督办或通报", "是")
    closed = dict(zip(values(sheet, 3), values(sheet, 5), strict=True))
    assert closed["整改资金（万元）"] == pytest.approx(1.23)  # 12,345 元, rounded to the cent of 万元
    assert closed["销号日期"] == "2026年11月20日"
    assert [sheet.cell(row, 2).value for row in range(4, sheet.max_row + 1)] == [
        "120104-2026-00001",
        "120104-2026-00002",
        "120104-2026-00003",
        "120104-2026-00004",
    ]


def test_enterprise_version_shows_its_own_hazards_without_escalation_columns(seeded: Engine) -> None:
    sheet = rectification(seeded, ENTERPRISE, version="enterprise")

    assert merged(sheet) == {"A1:K1", "A2:K2"}
    assert sheet["A1"].value == "南开区重大事故隐患督改台账（企业版）"
    headers = values(sheet, 3)
    assert headers == [
        "序号", "隐患编号", "隐患名称", "隐患部位", "判定依据", "发现日期", "整改时限", "当前阶段", "五到位",
        "整改资金（万元）", "销号日期",
    ]  # fmt: skip
    ids = [sheet.cell(row, 2).value for row in range(4, sheet.max_row + 1)]
    assert ids == ["120104-2026-00001", "120104-2026-00002", "120104-2026-00004"]


def test_a_street_exports_only_its_street(seeded: Engine) -> None:
    sheet = rectification(seeded, STREET)
    streets = {sheet.cell(row, 6).value for row in range(4, sheet.max_row + 1)}
    assert streets == {STREET.street}
    assert sheet.max_row == 6


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ({"overdue": True}, ["00001"]),
        ({"listed": True}, ["00001"]),
        ({"rag": Rag.RED}, ["00001"]),
        ({"stage": Stage.CLOSED}, ["00002"]),
        ({"street": OTHER_STREET}, ["00003"]),
        ({"industry": Industry.INDUSTRY_TRADE}, ["00003"]),
        ({"department": "南开区商务局"}, ["00003"]),
        ({"text": "万兴"}, ["00003"]),
        ({"found_from": date(2026, 6, 3), "found_to": date(2026, 6, 4)}, ["00002", "00003"]),
        ({"overdue": False, "stage": Stage.RECTIFY}, ["00003"]),
    ],
)
def test_the_lists_filters_apply_to_the_export(seeded: Engine, where: dict[str, Any], expected: list[str]) -> None:
    sheet = rectification(seeded, COMMITTEE, **where)
    assert [sheet.cell(row, 2).value for row in range(4, sheet.max_row + 1)] == [f"120104-2026-{n}" for n in expected]


def suspended_hazard(engine: Engine, hazard_id: str) -> None:
    """A tip-off, verified, planned, then a 责令停产整顿 ordered by the inspector: the real events."""
    at = NOW - timedelta(days=10)
    record = open_hazard(hazard_id, report(Source.TIP_OFF, found_at=at - timedelta(days=1)), STREET, at)
    apply(record, Action.VERIFY, INSPECTOR, Verification(verified=True, opinion="举报属实。"), at)
    apply(record, Action.SUBMIT_PLAN, ENTERPRISE, plan(deadline=TODAY + timedelta(days=30)), at)
    control = InterimControl(
        kind=InterimControlKind.SUSPENSION, measures="停产整顿。", suspension_order_no="南开应急责停〔2026〕7号"
    )
    apply(record, Action.CONFIRM_INTERIM_CONTROL, INSPECTOR, control, at + timedelta(days=1))
    write_projection(engine, record.state, record.events)


def imported_suspended_hazard(engine: Engine, hazard_id: str) -> None:
    """A hazard imported from a 督改台账 that records a 责令停产整顿 order (and not the order's day)."""
    at = NOW - timedelta(days=5)
    control = InterimControl(
        kind=InterimControlKind.SUSPENSION, measures="停产整顿。", suspension_order_no="南开应急责停〔2025〕31号"
    )
    imported = ImportedHazard(
        stage=Stage.RECTIFY,
        key=hazard_id,
        file_sha256="0" * 64,
        row=4,
        plan=plan(deadline=TODAY + timedelta(days=30)),
        interim_control=control,
    )
    record = open_imported(hazard_id, report(Source.INSPECTION, found_at=at - timedelta(days=60)), STREET, imported, at)
    write_projection(engine, record.state, record.events)


def test_suspension_ledger_lists_each_suspension_order(engine: Engine) -> None:
    suspended_hazard(engine, "120104-2026-00007")
    imported_suspended_hazard(engine, "120104-2026-00009")
    seed(engine, [hazard(8)])  # no interim control at all: not in this ledger
    with Session(engine) as session:
        rows = queries.suspension_rows(session=session, actor=COMMITTEE, where=EVERYTHING, now=NOW)
        sheet = reopen(lambda out: xlsx.write_suspension(out, rows, district="南开区", as_of=TODAY))

    assert merged(sheet) == {"A1:G1", "A2:G2"}
    assert sheet["A1"].value == "南开区责令停产整顿台账"
    assert values(sheet, 3) == [
        "序号",
        "企业名称",
        "隐患名称",
        "责令文书编号",
        "责令日期",
        "当前阶段",
        "复产（销号）日期",
    ]
    assert values(sheet, 4) == [
        1,
        "天津市南开区恒达化工有限公司",
        "储罐区可燃气体报警装置失效",
        "南开应急责停〔2026〕7号",
        "2026年11月14日",
        "整改",
        None,
    ]
    # The imported order, after it (ordered by when this system learned of it): its day is not in the ledger.
    assert values(sheet, 5)[3:6] == ["南开应急责停〔2025〕31号", None, "整改"]
    assert sheet.max_row == 5


def dispatch(engine: Engine, actor: Actor, by: queries.DispatchBy, as_of: date = TODAY) -> Worksheet:
    with Session(engine) as session:
        lines = queries.dispatch_lines(session=session, actor=actor, where=EVERYTHING, by=by, as_of=as_of, now=NOW)
    return reopen(lambda out: xlsx.write_dispatch(out, lines, by=by, district="南开区", as_of=as_of))


@pytest.fixture
def walked(engine: Engine) -> Engine:
    """The 调度表 counts what the events recorded by its day (tests/test_dispatch_as_of.py), so its hazards have
    real histories: the seeded rows' situations, walked through the lifecycle.

    1 王顶堤 应急局: RECTIFY, plan due 11-21, listed 10-01    2 王顶堤 应急局: closed 11-20
    3 万兴 商务局: RECTIFY, plan due 12-31                   4 王顶堤 应急局: revoked
    """

    def new(number: int, street: str = "王顶堤街道", department: str = "南开区应急管理局") -> Walk:
        at = datetime(2026, 6, 1, 10, 0, tzinfo=CHINA_TZ) + timedelta(days=number)
        return Walk.report(engine, f"120104-2026-{number:05d}", at, street=street, department=department)

    new(1).to_rectify(datetime(2026, 6, 5, tzinfo=CHINA_TZ), date(2026, 11, 21)).listing(
        datetime(2026, 10, 1, tzinfo=CHINA_TZ)
    )
    new(2).to_rectify(datetime(2026, 6, 5, tzinfo=CHINA_TZ), date(2026, 12, 31)).rectify(
        datetime(2026, 11, 10, tzinfo=CHINA_TZ)
    ).review(datetime(2026, 11, 20, 9, 0, tzinfo=CHINA_TZ))
    new(3, street=OTHER_STREET, department="南开区商务局").to_rectify(
        datetime(2026, 6, 5, tzinfo=CHINA_TZ), date(2026, 12, 31)
    )
    new(4).revoke(datetime(2026, 6, 10, tzinfo=CHINA_TZ))
    return engine


def test_dispatch_report_by_street_totals_the_rows(walked: Engine) -> None:
    new = Walk.report(
        walked, "120104-2026-00005", NOW - timedelta(days=100), street=OTHER_STREET, department="南开区应急管理局"
    )
    new.to_rectify(NOW - timedelta(days=99), date(2026, 12, 31)).rectify(NOW - timedelta(days=2))
    new.review(NOW - timedelta(days=1))
    sheet = dispatch(walked, COMMITTEE, "street")

    assert merged(sheet) == {"A1:H1", "A2:H2"}
    assert sheet["A1"].value == "南开区重大事故隐患排查整治进展情况调度表（街道填报）"
    assert sheet["A2"].value == "截至11月23日（2026年11月23日）累计"
    assert values(sheet, 3) == [
        "序号",
        "街道",
        "发现数",
        "已整改（销号）数",
        "整改中",
        "逾期",
        "挂牌督办",
        "整改率（%）",
    ]
    # Revoked hazard 4 is left out: it never was a major hazard.
    assert values(sheet, 4) == [1, OTHER_STREET, 2, 1, 1, 0, 0, 50]
    assert values(sheet, 5) == [2, STREET.street, 2, 1, 1, 1, 1, 50]
    total = values(sheet, 6)
    assert total[:2] == ["合计", None]
    for column in range(2, 7):
        assert total[column] == sum(values(sheet, row)[column] for row in (4, 5))
    assert total[7] == 50
    assert sheet.max_row == 6


def test_dispatch_report_by_department_counts_up_to_its_date(walked: Engine) -> None:
    # As of 11月19日, hazard 2 was not yet signed off (11月20日), and hazard 1's rectification deadline (11月21日)
    # had not passed yet: the table counts it overdue only from 11月22日 on, whatever its state today.
    sheet = dispatch(walked, COMMITTEE, "department", as_of=date(2026, 11, 19))

    assert sheet["A1"].value == "南开区重大事故隐患排查整治进展情况调度表（部门填报）"
    assert values(sheet, 3)[1] == "部门"
    assert values(sheet, 4) == [1, "南开区商务局", 1, 0, 1, 0, 0, 0]
    assert values(sheet, 5) == [2, "南开区应急管理局", 2, 0, 2, 0, 1, 0]
    assert values(sheet, 6) == ["合计", None, 3, 0, 3, 0, 1, 0]
    later = dispatch(walked, COMMITTEE, "department")
    assert values(later, 6) == ["合计", None, 3, 1, 2, 1, 1, pytest.approx(33.33)]


def test_a_street_dispatch_report_has_only_its_street(walked: Engine) -> None:
    sheet = dispatch(walked, STREET, "street")
    assert [values(sheet, row)[1] for row in range(4, sheet.max_row)] == [STREET.street]


def export(engine: Engine, out: io.BytesIO, rows: int | None = None) -> int:
    with Session(engine) as session:
        hazards = queries.rectification_rows(session=session, actor=COMMITTEE, where=EVERYTHING, now=NOW)
        return xlsx.write_rectification(
            out, itertools.islice(hazards, rows), version="department", district="南开区", as_of=TODAY
        )


def traced_peak(engine: Engine, rows: int) -> int:
    """Peak Python allocation while exporting, less the finished file this test keeps in a BytesIO."""
    out = io.BytesIO()
    tracemalloc.start()
    try:
        export(engine, out, rows)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - out.tell()


def test_ten_thousand_rows_stream_with_flat_memory(engine: Engine) -> None:
    seed(engine, [hazard(n) for n in range(1, 10_001)])
    out = io.BytesIO()
    started = time.perf_counter()
    assert export(engine, out) == 10_000
    elapsed = time.perf_counter() - started
    out.seek(0)
    sheet = load_workbook(out, read_only=True).active
    assert sheet is not None
    assert sum(1 for _ in sheet.iter_rows(min_row=4, values_only=True)) == 10_000

    # Tracing every allocation is slow (10,000 rows traced: 4.4 MiB peak, but 45 s), so a 2,000-row run is
    # traced: past the first batches memory stops growing, and a bound far below a built workbook holds.
    peak = traced_peak(engine, 2_000)
    print(f"10,000 rows in {elapsed:.1f} s; tracemalloc peak {peak / 2**20:.1f} MiB over 2,000 rows")
    assert peak < 8 * 2**20


# The API: needs `app.include_router(ledgers.router)` in api/main.py.


async def test_api_streams_a_street_its_ledger_with_a_utf8_filename(api: ApiStack) -> None:
    street = f"测试街道{uuid.uuid4().hex[:6]}"
    mine = Actor(id="street-x", name="刘芳", role=STREET.role, organisation=street, street=street)
    base = 90_000 + int(uuid.uuid4().int % 5_000) * 3
    seed(api.engine, [hazard(base, street=street), hazard(base + 1, street=f"{street}乙"), hazard(base + 2)])

    response = await api.http.get("/ledgers/rectification.xlsx", headers=api.auth(mine))

    assert response.status_code == 200
    assert response.headers["content-type"] == xlsx.MEDIA_TYPE
    assert "filename*=UTF-8''%E9%87%8D%E5%A4%A7%E9%9A%90%E6%82%A3" in response.headers["content-disposition"]
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert isinstance(sheet, Worksheet)
    assert [sheet.cell(row, 6).value for row in range(4, sheet.max_row + 1)] == [street]


async def test_api_filters_and_versions(api: ApiStack) -> None:
    street = f"测试街道{uuid.uuid4().hex[:6]}"
    base = 95_000 + int(uuid.uuid4().int % 1_500) * 3
    seed(api.engine, [hazard(base, street=street, listed=True), hazard(base + 1, street=street)])
    headers = api.auth(COMMITTEE)

    listed = await api.http.get(
        "/ledgers/rectification.xlsx", params={"street": street, "listed": "true"}, headers=headers
    )
    sheet = load_workbook(io.BytesIO(listed.content)).active
    assert isinstance(sheet, Worksheet)
    assert [sheet.cell(row, 2).value for row in range(4, sheet.max_row + 1)] == [f"120104-2026-{base:05d}"]

    # The 调度表 counts hazards from their recorded events: two walked through the lifecycle in a street of their own.
    walked = f"{street}乙"
    for n in (1, 2):
        at = datetime(2026, 6, 1, tzinfo=CHINA_TZ) + timedelta(days=n)
        Walk.report(api.engine, f"{walked}-{n}", at, street=walked, department="南开区应急管理局")
    report = await api.http.get(
        "/ledgers/dispatch.xlsx", params={"by": "street", "street": walked, "as_of": "2026-11-23"}, headers=headers
    )
    assert report.status_code == 200
    table = load_workbook(io.BytesIO(report.content)).active
    assert isinstance(table, Worksheet)
    assert values(table, 4)[1:4] == [walked, 2, 0]

    assert (await api.http.get("/ledgers/suspension.xlsx", headers=headers)).status_code == 200
    bad = await api.http.get("/ledgers/rectification.xlsx", params={"version": "public"}, headers=headers)
    assert bad.status_code == 422
    assert (await api.http.get("/ledgers/rectification.xlsx")).status_code == 401
