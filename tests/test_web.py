"""The web UI's pages, rendered by the real app against a real dev server and read model; the session cookie and
its CSRF rule on the API; the board's and charts' arithmetic on a seeded read model."""

import io
import re
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from html import unescape
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook
from pydantic import BaseModel
from sqlalchemy import Engine, insert
from sqlmodel import Session

from contracts.clock import CHINA_TZ, china_date, day_start
from contracts.deadlines import Rag
from contracts.enums import Action, Industry, Role, Source, Stage
from contracts.hazard import Actor, InterimControl, ReviewOpinion
from readmodel.models import Hazard, HazardEventRow
from readmodel.queries import scope_condition
from readmodel.statistics import GroupBy, StatisticsQuery, hazard_statistics
from readmodel.timeline import refresh_timelines
from tests.conftest import ApiStack
from tests.scenarios import AUDITOR, COMMITTEE, ENTERPRISE, REVIEWER, STREET, plan, rectification, report
from web import charts
from web.labels import ten_thousand_yuan, yuan
from web.queries import open_matrix, open_trend
from web.session import COOKIE, CSRF_HEADER

PROBLEM = "application/problem+json"
UI = {CSRF_HEADER: "1"}
OTHER_ENTERPRISE = Actor(
    id="ent-002",
    name="周平",
    role=Role.ENTERPRISE,
    organisation="天津市南开区宏远燃气有限公司",
    credit_code="91120104MA0500002X",
)


@pytest.fixture
def http(api: ApiStack) -> Iterator[httpx.AsyncClient]:
    """The shared client, its cookie jar emptied after: a session cookie a login set must reach no other test."""
    api.http.cookies.clear()
    yield api.http
    api.http.cookies.clear()


def session_of(api: ApiStack, actor: Actor) -> dict[str, str]:
    """What a logged-in browser sends: the session cookie and nothing else."""
    return {"Cookie": f"{COOKIE}={api.token(actor)}"}


async def page(api: ApiStack, actor: Actor, url: str) -> httpx.Response:
    return await api.http.get(url, headers=session_of(api, actor))


async def report_as(api: ApiStack, actor: Actor, **changes: Any) -> str:
    source = Source.SELF_INSPECTION if actor.role is Role.ENTERPRISE else Source.INSPECTION
    body = report(source).model_copy(update=changes).model_dump(mode="json", exclude_none=True)
    response = await api.http.post("/hazards", json=body, headers=api.auth(actor))
    assert response.status_code == 201, response.text
    return str(response.json()["hazard_id"])


async def act(api: ApiStack, actor: Actor, hazard_id: str, endpoint: str, body: BaseModel) -> None:
    response = await api.http.post(
        f"/hazards/{hazard_id}/{endpoint}",
        json=body.model_dump(mode="json", exclude_none=True),
        headers=api.auth(actor),
    )
    assert response.status_code == 200, response.text


async def to_review(api: ApiStack, hazard_id: str, *, deadline: date | None = None) -> None:
    await act(api, ENTERPRISE, hazard_id, "plan", plan(deadline=deadline))
    await act(api, ENTERPRISE, hazard_id, "interim-controls", InterimControl(kind="cordon", measures="设置警戒区"))
    await act(api, ENTERPRISE, hazard_id, "rectification", rectification())


def street_actor(street: str) -> Actor:
    return Actor(id=f"street-{street}", name="刘芳", role=Role.STREET, organisation=street, street=street)


def a_street() -> str:
    """A street of its own per test: the session's read model is shared with every other API test."""
    return f"测试{uuid.uuid4().hex[:8]}街道"


def hazard_ids(html: str) -> list[str]:
    """The hazards a list page shows, in order."""
    return re.findall(r'<td class="mono"><a href="/ui/hazards/([^"]+)">', html)


# --- logging in and out ----------------------------------------------------------------------------------------


async def test_login_keeps_the_token_in_an_httponly_strict_cookie_and_logout_clears_it(
    api: ApiStack, http: httpx.AsyncClient
) -> None:
    token = api.token(REVIEWER)
    response = await http.post("/ui/login", data={"token": token, "next": "/ui/hazards?rag=red"})
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/hazards?rag=red"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}={token};")
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Path=/" in cookie

    board = await http.get("/ui/board", headers={"Cookie": f"{COOKIE}={token}"})
    assert board.status_code == 200
    assert REVIEWER.name in board.text

    out = await http.post("/ui/logout", headers={"Cookie": f"{COOKIE}={token}"})
    assert out.status_code == 303
    assert out.headers["location"] == "/ui/login"
    assert re.search(rf'{COOKIE}=""; .*Max-Age=0', out.headers["set-cookie"])


@pytest.mark.parametrize(
    ("token", "message"),
    [("", "请粘贴登录凭证"), ("not-a-token", "登录凭证无效或已过期")],
)
async def test_a_bad_token_is_refused_on_the_login_page(http: httpx.AsyncClient, token: str, message: str) -> None:
    response = await http.post("/ui/login", data={"token": token})
    assert response.status_code == 401
    assert "set-cookie" not in response.headers
    assert message in response.text


async def test_login_returns_only_to_a_page_of_the_ui(api: ApiStack, http: httpx.AsyncClient) -> None:
    for target in ("//evil.example/ui/board", "https://evil.example/", "/hazards"):
        response = await http.post("/ui/login", data={"token": api.token(REVIEWER), "next": target})
        assert response.headers["location"] == "/ui/board"


async def test_pages_send_a_visitor_without_a_session_to_the_login_page(api: ApiStack, http: httpx.AsyncClient) -> None:
    response = await http.get("/ui/hazards", params={"rag": "red"})
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/login?next=%2Fui%2Fhazards%3Frag%3Dred"
    assert (await http.get("/")).headers["location"] == "/ui/board"

    expired = api.token(REVIEWER, ttl=timedelta(minutes=-5))
    response = await http.get("/ui/board", headers={"Cookie": f"{COOKIE}={expired}"})
    assert response.status_code == 303
    assert "expired=1" in response.headers["location"]
    assert re.search(rf'{COOKIE}=""; .*Max-Age=0', response.headers["set-cookie"])
    login = await http.get(response.headers["location"])
    assert "登录已过期" in login.text


# --- pages by role ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("actor", [ENTERPRISE, STREET, REVIEWER, COMMITTEE, AUDITOR], ids=lambda a: a.role.value)
async def test_every_page_renders_for_every_role(api: ApiStack, actor: Actor) -> None:
    await report_as(api, ENTERPRISE)
    for url, heading in [
        ("/ui/board", "街道 × 行业领域"),
        ("/ui/hazards", "隐患清单"),
        ("/ui/statistics", "统计分析"),
        ("/ui/imports", "台账导入"),
    ]:
        response = await page(api, actor, url)
        assert response.status_code == 200, (url, response.text)
        assert response.headers["content-type"].startswith("text/html")
        assert heading in response.text
        assert f"{actor.name}（" in response.text
        # Every asset is the service's own: nothing is fetched from another host.
        assert not re.search(r'(src|href)="(https?:)?//', response.text)


async def test_only_importers_get_the_import_form_and_its_tab(api: ApiStack) -> None:
    for actor, may in [(COMMITTEE, True), (REVIEWER, True), (ENTERPRISE, False), (STREET, False), (AUDITOR, False)]:
        shown = (await page(api, actor, "/ui/imports")).text
        assert ('id="import-form"' in shown) is may, actor.role
        assert ('href="/ui/imports"' in shown) is may, actor.role
        assert ("只有区安委办和行业部门可以导入台账" in shown) is not may, actor.role


async def test_static_assets_are_served_by_the_app(http: httpx.AsyncClient) -> None:
    css = await http.get("/ui/static/app.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert '"Noto Sans CJK SC", "Source Han Sans SC", "Microsoft YaHei"' in css.text
    js = await http.get("/ui/static/app.js")
    assert js.status_code == 200
    assert CSRF_HEADER in js.text


async def test_the_hazard_page_shows_its_record_and_the_forms_each_role_may_use(api: ApiStack) -> None:
    hazard_id = await report_as(api, ENTERPRISE)
    await to_review(api, hazard_id)
    url = f"/ui/hazards/{hazard_id}"

    reviewer = (await page(api, REVIEWER, url)).text
    assert "审核验收" in reviewer
    assert f'data-endpoint="/hazards/{hazard_id}/review"' in reviewer
    # 五到位: all five marked, with the plan's figures.
    assert reviewer.count('<span class="tick yes">✓</span>') == 5
    assert "58,000.00 元" in reviewer
    assert "设置警戒隔离" in reviewer
    assert "整改完成" in reviewer
    # The timeline, newest first, in Chinese, with who did it.
    steps = re.findall(r"</span> <b>([^<]+)</b>", reviewer)
    assert steps == ["报告整改完成", "落实临时管控措施", "提交整改方案", "上报隐患"]
    assert f"{ENTERPRISE.organisation} {ENTERPRISE.name}（企业）" in reviewer
    # The review deadline with its countdown. The sample's evidence refs are no sha256 refs, so nothing is offered
    # for download (a real photo is shown in tests/test_browser.py).
    assert "审核验收</b>" in reviewer
    assert "剩余" in reviewer
    assert "无可查看的佐证材料" in reviewer

    enterprise = (await page(api, ENTERPRISE, url)).text
    assert f'data-endpoint="/hazards/{hazard_id}/review"' not in enterprise
    assert "当前阶段没有您可办理的事项" in enterprise
    assert "13800000000" in enterprise

    committee = (await page(api, COMMITTEE, url)).text
    assert f'data-endpoint="/hazards/{hazard_id}/listing"' in committee
    assert f'data-endpoint="/hazards/{hazard_id}/revoke"' in committee
    assert f'data-endpoint="/hazards/{hazard_id}/review"' not in committee

    auditor = (await page(api, AUDITOR, url)).text
    assert "data-endpoint" not in auditor
    # Phones masked as the API masks them for readers who do not work with the enterprise directly.
    assert "13800000000" not in auditor
    assert "138****0000" in auditor
    assert "13800000000" not in (await page(api, STREET, url)).text


async def test_an_enterprise_cannot_see_another_enterprises_hazard(api: ApiStack) -> None:
    theirs = await report_as(api, ENTERPRISE)
    response = await page(api, OTHER_ENTERPRISE, f"/ui/hazards/{theirs}")
    assert response.status_code == 404
    assert "隐患不存在" in response.text
    assert f"未找到编号为 {theirs} 的隐患" in response.text
    # Exactly as a hazard that does not exist.
    missing = await page(api, OTHER_ENTERPRISE, "/ui/hazards/120104-2026-99999")
    assert missing.status_code == 404
    listed = await page(api, OTHER_ENTERPRISE, "/ui/hazards")
    assert theirs not in listed.text
    assert theirs in (await page(api, ENTERPRISE, f"/ui/hazards?q={theirs}")).text


# --- the list --------------------------------------------------------------------------------------------------


async def test_filters_narrow_the_list_and_the_ledger_export_takes_the_same(api: ApiStack) -> None:
    street = a_street()
    chem = await report_as(api, COMMITTEE, street=street)
    gas = await report_as(
        api, COMMITTEE, street=street, industry=Industry.GAS, department="南开区城市管理委员会", title="燃气调压箱失效"
    )
    await act(api, ENTERPRISE, chem, "plan", plan())

    everything = (await page(api, COMMITTEE, f"/ui/hazards?street={street}")).text
    assert sorted(hazard_ids(everything)) == sorted([chem, gas])
    # Empty fields of the form mean "any", as the API would have them left out.
    by_industry = await page(api, COMMITTEE, f"/ui/hazards?street={street}&industry=燃气&stage=&rag=&q=")
    assert hazard_ids(by_industry.text) == [gas]
    assert hazard_ids((await page(api, COMMITTEE, f"/ui/hazards?street={street}&stage=INTERIM_CONTROL")).text) == [chem]
    assert hazard_ids((await page(api, COMMITTEE, f"/ui/hazards?street={street}&q=调压箱")).text) == [gas]
    assert hazard_ids((await page(api, COMMITTEE, f"/ui/hazards?street={street}&overdue=true")).text) == []
    today = china_date(datetime.now(CHINA_TZ))
    window = f"/ui/hazards?street={street}&found_from={today - timedelta(days=1)}&found_to={today}"
    assert len(hazard_ids((await page(api, COMMITTEE, window)).text)) == 2
    assert hazard_ids((await page(api, COMMITTEE, f"/ui/hazards?street={street}&found_to=2020-01-01")).text) == []

    # The street's own user sees the same two; another street's sees none.
    assert len(hazard_ids((await page(api, street_actor(street), "/ui/hazards")).text)) == 2
    assert hazard_ids((await page(api, street_actor(a_street()), f"/ui/hazards?street={street}")).text) == []

    link = re.search(r'href="/ledgers/rectification\.xlsx\?([^"]+)"', by_industry.text)
    assert link is not None
    query = unescape(link.group(1))
    assert dict(httpx.QueryParams(query)) == {"street": street, "industry": "燃气", "version": "department"}
    ledger = await api.http.get(f"/ledgers/rectification.xlsx?{query}", headers=session_of(api, COMMITTEE))
    assert ledger.status_code == 200
    sheet = load_workbook(io.BytesIO(ledger.content)).active
    assert sheet is not None
    cells = {str(cell.value) for row in sheet.iter_rows() for cell in row if cell.value is not None}
    assert gas in cells
    assert chem not in cells


async def test_a_bad_filter_is_named_and_the_list_shown_whole(api: ApiStack) -> None:
    response = await page(api, COMMITTEE, "/ui/hazards?stage=DONE&found_from=yesterday")
    assert response.status_code == 200
    assert "筛选条件有误" in response.text
    assert "stage：取值必须是以下之一" in response.text
    assert "found_from：日期格式不正确" in response.text


async def test_the_list_counts_down_to_the_nearest_deadline_first(api: ApiStack) -> None:
    street = a_street()
    today = china_date(datetime.now(CHINA_TZ))
    later = await report_as(api, ENTERPRISE, street=street)
    await act(api, ENTERPRISE, later, "plan", plan(deadline=today + timedelta(days=90)))
    await act(api, ENTERPRISE, later, "interim-controls", InterimControl(kind="cordon", measures="警戒"))
    soon = await report_as(api, ENTERPRISE, street=street)  # the plan is due in 5 working days
    sooner = await report_as(api, ENTERPRISE, street=street)
    await act(api, ENTERPRISE, sooner, "plan", plan(deadline=today + timedelta(days=60)))  # controls due in 2 WD
    closed = await report_as(api, ENTERPRISE, street=street)
    await to_review(api, closed)
    await act(api, REVIEWER, closed, "review", ReviewOpinion(decision="approve", opinion="同意销号"))

    by_deadline = hazard_ids((await page(api, COMMITTEE, f"/ui/hazards?street={street}")).text)
    assert by_deadline == [sooner, soon, later, closed]
    newest_first = hazard_ids((await page(api, COMMITTEE, f"/ui/hazards?street={street}&sort=reported")).text)
    assert newest_first == [closed, sooner, soon, later]


# --- the session cookie on the API -----------------------------------------------------------------------------


async def test_the_api_takes_the_session_cookie_and_refuses_its_writes_without_the_ui_header(
    api: ApiStack,
) -> None:
    hazard_id = await report_as(api, ENTERPRISE)
    await to_review(api, hazard_id)
    cookie = session_of(api, REVIEWER)

    read = await api.http.get(f"/hazards/{hazard_id}", headers=cookie)
    assert read.status_code == 200
    assert read.json()["stage"] == "REVIEW"

    body = {"decision": "approve", "opinion": "整改到位，同意销号"}
    forged = await api.http.post(f"/hazards/{hazard_id}/review", json=body, headers=cookie)
    assert forged.status_code == 403
    assert forged.headers["content-type"] == PROBLEM
    assert forged.json()["code"] == "CsrfHeaderMissing"
    assert CSRF_HEADER in forged.json()["detail"]
    wrong = await api.http.post(f"/hazards/{hazard_id}/review", json=body, headers=cookie | {CSRF_HEADER: "yes"})
    assert wrong.status_code == 403
    assert (await api.http.get(f"/hazards/{hazard_id}", headers=cookie)).json()["stage"] == "REVIEW"

    # Invalid data is the API's own 422, field by field, in Chinese.
    invalid = await api.http.post(f"/hazards/{hazard_id}/review", json={"decision": "approve"}, headers=cookie | UI)
    assert invalid.status_code == 422
    assert invalid.json()["errors"] == [{"field": "opinion", "message": "必填"}]

    approved = await api.http.post(f"/hazards/{hazard_id}/review", json=body, headers=cookie | UI)
    assert approved.status_code == 200, approved.text
    assert approved.json()["state"]["stage"] == "CLOSED"
    assert approved.json()["event"]["actor"]["id"] == REVIEWER.id

    # The audit trail knows who acted through the cookie.
    trail = await api.http.get(
        "/audit/records", params={"object": hazard_id, "action": "review"}, headers=api.auth(AUDITOR)
    )
    records = trail.json()["data"]
    assert {(r["status"], r["actor_id"]) for r in records} >= {(200, REVIEWER.id), (422, REVIEWER.id)}


async def test_a_bearer_token_wins_over_the_cookie_and_needs_no_ui_header(api: ApiStack) -> None:
    hazard_id = await report_as(api, ENTERPRISE)
    headers = session_of(api, OTHER_ENTERPRISE) | api.auth(ENTERPRISE)
    response = await api.http.post(f"/hazards/{hazard_id}/plan", json=plan().model_dump(mode="json"), headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["event"]["actor"]["id"] == ENTERPRISE.id


async def test_a_cookie_for_another_enterprise_reads_404_and_a_bad_cookie_401(api: ApiStack) -> None:
    hazard_id = await report_as(api, ENTERPRISE)
    foreign = await api.http.get(f"/hazards/{hazard_id}", headers=session_of(api, OTHER_ENTERPRISE))
    assert foreign.status_code == 404
    forged = await api.http.get(f"/hazards/{hazard_id}", headers={"Cookie": f"{COOKIE}=forged.token.value"})
    assert forged.status_code == 401
    assert forged.json()["code"] == "InvalidToken"


# --- statistics ------------------------------------------------------------------------------------------------


async def test_the_statistics_page_counts_within_the_readers_jurisdiction(api: ApiStack) -> None:
    street = a_street()
    first = await report_as(api, COMMITTEE, street=street)
    await report_as(api, COMMITTEE, street=street, industry=Industry.GAS, department="南开区城市管理委员会")
    await to_review(api, first)
    await act(api, REVIEWER, first, "review", ReviewOpinion(decision="approve", opinion="同意"))

    html = (await page(api, street_actor(street), "/ui/statistics?group_by=industry")).text
    total = re.search(r"<tfoot>\s*<tr>\s*<th>合计</th>\s*<td class=\"num\">(\d+)</td>", html)
    assert total is not None
    assert total.group(1) == "2"
    assert "<th>燃气</th>" in html
    assert "<th>危险化学品</th>" in html
    assert "50.0%" in html  # 整改率: one closed of two found
    assert 'aria-label="按行业领域统计：销号与在办"' in html

    later = (await page(api, street_actor(street), "/ui/statistics?found_from=2099-01-01")).text
    assert re.search(r"<th>合计</th>\s*<td class=\"num\">0</td>", later)
    wrong = (await page(api, street_actor(street), "/ui/statistics?found_from=2026-02-01&found_to=2026-01-01")).text
    assert "结束日期不能早于开始日期" in wrong


# --- the board's arithmetic, on a seeded read model ------------------------------------------------------------

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=CHINA_TZ)
A, B = "王顶堤街道", "华苑街道"


def row(number: int, **fields: Any) -> dict[str, Any]:
    found = datetime(2026, 10, 1, 9, 0, tzinfo=CHINA_TZ)
    return {
        "hazard_id": f"B-{number}",
        "title": f"隐患{number}",
        "description": "说明",
        "enterprise_name": "企业",
        "enterprise_credit_code": ENTERPRISE.credit_code,
        "street": A,
        "industry": Industry.HAZARDOUS_CHEMICALS,
        "department": "南开区应急管理局",
        "source": Source.SELF_INSPECTION,
        "criterion_standard": "标准",
        "criterion_clause": "第一条",
        "location": "地点",
        "found_at": found,
        "reported_at": found,
        "reporter_id": "x",
        "reporter_name": "x",
        "stage": Stage.RECTIFY,
        "next_deadline": NOW + timedelta(days=10),
        "rag": Rag.GREEN,
        "escalation_level": 0,
        "listed": False,
        "version": 1,
        "updated_at": found,
        **fields,
    }


@pytest.mark.databases
def test_the_board_counts_open_hazards_by_colour_and_rung_within_jurisdiction(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(Hazard),
            [
                row(1, rag=Rag.RED, escalation_level=1),
                row(2, rag=Rag.RED, escalation_level=3, listed=True),
                row(3, rag=Rag.YELLOW),
                row(4),
                row(5, stage=Stage.CLOSED),  # closed: not on the board
                row(6, stage=Stage.REVOKED, rag=Rag.RED),
                row(
                    7,
                    street=B,
                    industry=Industry.GAS,
                    department="南开区城市管理委员会",
                    rag=Rag.RED,
                    escalation_level=2,
                ),
                row(8, street=B, rag=Rag.GREEN),
            ],
        )
    with Session(engine) as session:
        board = open_matrix(session=session, actor=COMMITTEE, row=Hazard.street, column=Hazard.industry, now=NOW)
        assert board.rows == [A, B]  # the street with the most red first
        assert board.columns == ["危险化学品", "燃气"]
        cell = board.cells[A, "危险化学品"]
        assert (cell.rag[Rag.RED], cell.rag[Rag.YELLOW], cell.rag[Rag.GREEN], cell.total) == (2, 1, 1, 4)
        assert dict(cell.levels) == {1: 1, 3: 1}
        assert cell.listed == 1
        assert (A, "燃气") not in board.cells
        assert board.row_totals[B].total == 2
        assert board.column_totals["危险化学品"].total == 5
        assert board.total.total == 6
        assert board.total.rag[Rag.RED] == 3

        departments = open_matrix(session=session, actor=COMMITTEE, row=Hazard.department, column=None, now=NOW)
        assert departments.row_totals["南开区应急管理局"].total == 5
        assert departments.row_totals["南开区城市管理委员会"].levels[2] == 1

        theirs = open_matrix(session=session, actor=street_actor(B), row=Hazard.street, column=Hazard.industry, now=NOW)
        assert theirs.rows == [B]
        assert theirs.total.total == 2


def event(hazard_id: str, seq: int, at: datetime, before: Stage | None, after: Stage) -> dict[str, Any]:
    return {
        "hazard_id": hazard_id,
        "seq": seq,
        "action": (Action.REPORT if before is None else Action.REVIEW).value,
        "actor_id": "x",
        "actor_name": "x",
        "actor_role": "department",
        "actor_organisation": "x",
        "at": at,
        "stage_before": before,
        "stage_after": after,
        "payload": {},
    }


@pytest.mark.databases
def test_the_trend_counts_open_hazards_as_the_statistics_do(engine: Engine) -> None:
    def t(day: int, hour: int = 10) -> datetime:
        return datetime(2026, 11, day, hour, tzinfo=CHINA_TZ)

    with engine.begin() as conn:
        conn.execute(
            insert(Hazard),
            [
                row(1, reported_at=t(2), stage=Stage.CLOSED),
                row(2, reported_at=t(3), stage=Stage.REVOKED),
                row(3, reported_at=t(5)),
                row(4, reported_at=t(5), street=B),
            ],
        )
        conn.execute(
            insert(HazardEventRow),
            [
                event("B-1", 1, t(2), None, Stage.PLAN),
                event("B-1", 2, t(4), Stage.PLAN, Stage.INTERIM_CONTROL),
                event("B-1", 3, t(6), Stage.REVIEW, Stage.CLOSED),
                event("B-1", 4, t(7), Stage.CLOSED, Stage.CLOSED),  # a publication after closure
                event("B-2", 1, t(3), None, Stage.VERIFY),
                event("B-2", 2, t(5, 23), Stage.VERIFY, Stage.REVOKED),
                event("B-3", 1, t(5), None, Stage.PLAN),
                event("B-4", 1, t(5), None, Stage.PLAN),
            ],
        )
        refresh_timelines(conn, None)  # as the projection does with the events it writes
    with Session(engine) as session:
        trend = open_trend(session=session, actor=COMMITTEE, first=date(2026, 11, 1), last=date(2026, 11, 8))
        assert trend == [(date(2026, 11, d), n) for d, n in zip(range(1, 9), [0, 1, 2, 2, 3, 2, 2, 2], strict=True)]
        for day, count in trend:
            as_of = day_start(day + timedelta(days=1)) - timedelta(microseconds=1)
            query = StatisticsQuery(group_by=GroupBy.NONE, as_of=as_of, cutoff_year=2026)
            stats = hazard_statistics(session=session, scope=scope_condition(COMMITTEE), query=query)
            assert stats.total.open == count, day
        mine = open_trend(session=session, actor=street_actor(B), first=date(2026, 11, 4), last=date(2026, 11, 6))
        assert [n for _, n in mine] == [0, 1, 1]


# --- charts ----------------------------------------------------------------------------------------------------


def test_the_donut_shares_the_ring_by_value_and_escapes_its_labels() -> None:
    svg = charts.donut(
        [charts.Slice("红<script>", 1, "rag-red"), charts.Slice("绿", 3, "rag-green"), charts.Slice("黄", 0, "y")],
        title="分布",
        centre_label="在办",
    )
    assert "<script>" not in svg
    assert "红&lt;script&gt;" in svg
    assert ">4</text>" in svg
    assert "1（25%）" in svg
    assert "3（75%）" in svg
    arcs = [float(a) for a in re.findall(r'stroke-dasharray="([\d.]+) ', svg)]
    assert len(arcs) == 2  # an empty slice draws no arc
    assert arcs[1] == pytest.approx(3 * arcs[0], rel=0.01)


def test_the_trend_scales_from_zero_to_a_round_top_and_labels_the_last_day() -> None:
    points = [(date(2026, 11, 1) + timedelta(days=i), n) for i, n in enumerate([3, 7, 12])]
    svg = charts.trend(points, title="走势")
    assert re.findall(r'text-anchor="end">(\d+)</text>', svg) == ["0", "5", "10", "15"]
    assert "11月3日 12" in svg
    assert svg.count("<polyline") == 1
    assert ">11-01<" in svg
    assert ">11-03<" in svg


def test_stacked_bars_share_one_scale() -> None:
    legend = [charts.Slice("已销号", 0, "a"), charts.Slice("在办", 0, "b")]
    svg = charts.stacked_bars(
        [
            ("甲", [charts.Slice("已销号", 2, "a"), charts.Slice("在办", 2, "b")]),
            ("乙", [charts.Slice("在办", 1, "b")]),
        ],
        title="统计",
        legend=legend,
    )
    widths = [float(w) for w in re.findall(r'<rect class="[ab]" x="[\d.]+" y="\d+" width="([\d.]+)" height="16"', svg)]
    assert widths[0] == widths[1] == pytest.approx(2 * widths[2])
    assert '">4</text>' in svg
    assert '">1</text>' in svg


def test_money_is_shown_in_yuan_and_ten_thousands() -> None:
    assert yuan(Decimal("58000")) == "58,000.00"
    assert ten_thousand_yuan(Decimal("58000")) == "5.80"
