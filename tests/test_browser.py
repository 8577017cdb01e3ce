"""The web UI in headless Chromium against the real app over HTTP (uvicorn), a real worker and a time-skipping
Temporal server: a department reviewer follows a red cell of the board to a hazard and signs it off; an enterprise
cannot open another enterprise's hazard. Screenshots go to the test's tmp dir and to test-output/ to be looked at.
"""

import asyncio
import io
import shutil
import struct
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlencode

import pytest
import pytest_asyncio
from openpyxl import load_workbook
from playwright.async_api import Browser, Dialog, Page, async_playwright, expect

from contracts.clock import CHINA_TZ, china_date
from contracts.deadlines import DeadlineKind, Rung
from contracts.enums import Industry, Role, Source
from contracts.hazard import Actor, Enterprise, HazardReport, InterimControl, Rectification
from imports.creditcode import check_character
from imports.layout import HEADER_KEYS, normalise_header
from tests.conftest import ApiStack, LiveUi
from tests.scenarios import COMMITTEE, ENTERPRISE, REVIEWER, plan, report

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
OUTPUT = Path(__file__).resolve().parent.parent / "test-output"
OTHER_ENTERPRISE = Actor(
    id="ent-002",
    name="周平",
    role=Role.ENTERPRISE,
    organisation="天津市南开区宏远燃气有限公司",
    credit_code="91120104MA0500002X",
)
CHEM, TRADE = Industry.HAZARDOUS_CHEMICALS, Industry.INDUSTRY_TRADE
SAFETY = "南开区应急管理局"


def png(width: int = 240, height: int = 150) -> bytes:
    """A real PNG (the photo of the repaired alarm, as far as the test cares): green and white stripes."""
    rows = b"".join(
        b"\x00" + b"".join(b"\x2e\x7d\x32" if (x // 20 + y // 20) % 2 else b"\xff\xff\xff" for x in range(width))
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def inspection(number: int, street: str, industry: Industry, department: str = SAFETY) -> HazardReport:
    return report(Source.INSPECTION).model_copy(
        update={
            "title": f"检查发现隐患 {number}：{industry.value}场所安全设施缺失",
            "street": street,
            "industry": industry,
            "department": department,
            "enterprise": Enterprise(
                name=f"天津市南开区样例{number}有限公司",
                credit_code=f"91120104MA05001{number:02d}X",
                principal_name="张伟",
                principal_phone="13900000000",
            ),
        }
    )


async def post(api: ApiStack, actor: Actor, path: str, body: dict[str, object]) -> dict[str, object]:
    response = await api.http.post(path, json=body, headers=api.auth(actor))
    assert response.status_code in (200, 201), response.text
    answer: dict[str, object] = response.json()
    return answer


async def report_as(api: ApiStack, actor: Actor, hazard: HazardReport) -> str:
    answer = await post(api, actor, "/hazards", hazard.model_dump(mode="json", exclude_none=True))
    return str(answer["hazard_id"])


async def in_review_with_a_photo(api: ApiStack) -> str:
    """The enterprise's own hazard, driven through the API to REVIEW with a real photo as evidence."""
    hazard_id = await report_as(api, ENTERPRISE, report())
    await post(api, ENTERPRISE, f"/hazards/{hazard_id}/plan", plan().model_dump(mode="json"))
    control = InterimControl(kind="cordon", measures="设置警戒区，专人 24 小时值守。")
    await post(api, ENTERPRISE, f"/hazards/{hazard_id}/interim-controls", control.model_dump(mode="json"))
    upload = await api.http.post(
        "/evidence", files={"file": ("更换后的报警器.png", png(), "image/png")}, headers=api.auth(ENTERPRISE)
    )
    assert upload.status_code in (200, 201), upload.text
    done = Rectification(
        description="更换失效报警器，完成与紧急切断阀联锁调试。",
        completed_on=plan().deadline - timedelta(days=30),
        evidence=[upload.json()["ref"]],
    )
    await post(api, ENTERPRISE, f"/hazards/{hazard_id}/rectification", done.model_dump(mode="json"))
    return hazard_id


async def until_red(live: LiveUi, hazard_id: str) -> None:
    """Skips the server's clock past the review deadline's notice letter, then waits for the read model."""
    state = (await live.api.http.get(f"/hazards/{hazard_id}", headers=live.api.auth(REVIEWER))).json()
    review = next(d for d in state["deadlines"] if d["kind"] == DeadlineKind.REVIEW.value)
    letter = next(r for r in review["rungs"] if r["rung"] == Rung.NOTICE_LETTER.value)
    moment = datetime.fromisoformat(letter["at"]) + timedelta(minutes=1)
    now = await live.env.get_current_time()
    await live.env.sleep(moment - now)
    for _ in range(200):
        listed = await live.api.http.get("/hazards", params={"q": hazard_id}, headers=live.api.auth(REVIEWER))
        row = listed.json()["data"][0]
        if row["rag"] == "red" and row["escalation_level"] == 1:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{hazard_id} never turned red: {row}")


@dataclass(frozen=True)
class World:
    review: str  # the enterprise's hazard, in REVIEW and overdue
    other_enterprises: str  # another enterprise's hazard


@pytest_asyncio.fixture(scope="module")
async def world(live_ui: LiveUi) -> World:
    """Hazards made by real workflows through the API: some left overdue by a skipped clock, some fresh."""
    api = live_ui.api
    for number, (street, industry) in enumerate([("华苑街道", CHEM), ("长虹街道", TRADE)], start=1):
        await report_as(api, COMMITTEE, inspection(number, street, industry))
    gas = report(Source.SELF_INSPECTION).model_copy(
        update={
            "title": "燃气调压箱切断阀失效",
            "street": "长虹街道",
            "industry": Industry.GAS,
            "department": "南开区城市管理委员会",
            "enterprise": Enterprise(
                name=OTHER_ENTERPRISE.organisation,
                credit_code=OTHER_ENTERPRISE.credit_code or "",
                principal_name=OTHER_ENTERPRISE.name,
                principal_phone="13900000001",
            ),
        }
    )
    others = await report_as(api, OTHER_ENTERPRISE, gas)
    review = await in_review_with_a_photo(api)
    await until_red(live_ui, review)
    # Reported after the skip: on schedule, green.
    for number, (street, industry) in enumerate([("华苑街道", CHEM), ("鼓楼街道", CHEM), ("王顶堤街道", TRADE)], 3):
        await report_as(api, COMMITTEE, inspection(number, street, industry))
    return World(review=review, other_enterprises=others)


@pytest_asyncio.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("screenshots")


async def shoot(page: Page, screenshots: Path, name: str) -> None:
    """A full-page screenshot in the test's tmp dir, copied to test-output/ for people to look at."""
    path = screenshots / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    OUTPUT.mkdir(exist_ok=True)
    shutil.copy(path, OUTPUT / path.name)


async def log_in(browser: Browser, live: LiveUi, actor: Actor, start: str) -> Page:
    context = await browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    page = await context.new_page()
    await page.goto(live.url + start)
    await expect(page).to_have_url(f"{live.url}/ui/login?{urlencode({'next': start})}")
    await page.fill("#token", live.api.token(actor))
    await page.click("button[type=submit]")
    await expect(page).to_have_url(live.url + start)
    return page


async def test_a_reviewer_follows_a_red_cell_to_a_hazard_and_signs_it_off(
    browser: Browser, live_ui: LiveUi, world: World, screenshots: Path
) -> None:
    page = await log_in(browser, live_ui, REVIEWER, "/ui/board")
    await expect(page.locator("h1")).to_contain_text("挂图作战")
    red_cell = "/ui/hazards?" + urlencode({"rag": "red", "street": "王顶堤街道", "industry": CHEM.value})
    chip = page.locator(f'table.matrix a.chip.rag-red[href="{red_cell}"]')
    await expect(chip).to_have_text("1")
    # The reviewer's jurisdiction: its industry and its department's hazards, not the gas company's.
    await expect(page.locator("table.matrix")).not_to_contain_text("燃气")
    await shoot(page, screenshots, "board")

    await chip.click()
    await expect(page).to_have_url(live_ui.url + red_cell)
    rows = page.locator("table.list tbody tr")
    await expect(rows).to_have_count(1)
    await shoot(page, screenshots, "list-red-cell")
    await rows.locator(f'a[href="/ui/hazards/{world.review}"]').first.click()

    await expect(page.locator("#stage")).to_have_text("审核验收")
    await expect(page.locator(".hazard-head .badge.rag-red")).to_have_text("红")
    escalations = page.locator("section", has_text="督办记录")
    await expect(escalations.locator("td", has_text="函告")).to_have_count(1)
    await expect(escalations.locator('a[href^="/escalations/"][href$="/letter.docx"]')).to_have_count(1)
    photo = page.locator("img.evidence-img")
    await expect(photo).to_have_count(1)
    # decode() waits for the image to arrive (and rejects if it cannot be shown): read at once, `complete` can still
    # be false while it loads (a fresh clone's run failed so, 2026-12-07).
    assert await photo.evaluate("img => img.decode().then(() => img.naturalWidth)") == 240
    await expect(page.locator(".deadline.red")).to_contain_text("已逾期")
    await shoot(page, screenshots, "hazard-in-review")

    async def confirm(dialog: Dialog) -> None:
        await dialog.accept()

    page.on("dialog", confirm)
    form = page.locator(f'form[data-endpoint="/hazards/{world.review}/review"]')
    await form.locator('input[name=decision][value="approve"]').check()
    await form.locator("button[type=submit]").click()
    # The API's own 422, in Chinese, next to the field it names.
    await expect(form.locator('.field[data-field="opinion"] .field-error')).to_have_text("必填")

    await form.locator("textarea[name=opinion]").fill("整改到位，同意销号。")
    await form.locator("button[type=submit]").click()
    await expect(page.locator("#stage")).to_have_text("已销号")
    await expect(page.locator("ol.timeline li").first).to_contain_text(f"审核验收 {REVIEWER.organisation}")
    await expect(page.locator(".closed-note")).to_contain_text(REVIEWER.name)
    await shoot(page, screenshots, "hazard-closed")

    await page.goto(live_ui.url + "/ui/board")
    await expect(page.locator(f'a[href="{red_cell}"]')).to_have_count(0)
    await page.goto(live_ui.url + "/ui/statistics?group_by=street")
    await expect(page.locator("table.stats tfoot")).to_contain_text("合计")
    await shoot(page, screenshots, "statistics")


async def test_an_enterprise_cannot_open_another_enterprises_hazard(
    browser: Browser, live_ui: LiveUi, world: World, screenshots: Path
) -> None:
    page = await log_in(browser, live_ui, ENTERPRISE, "/ui/hazards")
    await expect(page.locator("table.list")).to_contain_text(world.review)
    await expect(page.locator("table.list")).not_to_contain_text(world.other_enterprises)

    response = await page.goto(f"{live_ui.url}/ui/hazards/{world.other_enterprises}")
    assert response is not None
    assert response.status == 404
    await expect(page.locator("h1")).to_have_text("隐患不存在")
    await shoot(page, screenshots, "enterprise-foreign-hazard")
    # The API answers the page's own session the same way.
    status = await page.evaluate("id => fetch('/hazards/' + id).then(r => r.status)", world.other_enterprises)
    assert status == 404


def filled(template: bytes, rows: list[dict[str, object]]) -> bytes:
    """The imports API's own template with rows written under its headers (by column key)."""
    workbook = load_workbook(io.BytesIO(template))
    sheet = workbook["重大隐患督改台账"]
    keys = [HEADER_KEYS[normalise_header(str(cell.value))].key for cell in sheet[3]]
    for values in rows:
        sheet.append([values.get(key) for key in keys])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def fire_hazard(number: int) -> dict[str, object]:
    """A valid row: a fire hazard in RECTIFY, new to the system."""
    today = china_date(datetime.now(CHINA_TZ))
    first17 = f"91120104MA0600{number:03d}"
    return {
        "title": f"自动喷水灭火系统瘫痪（导入 {number}）",
        "enterprise_name": f"天津市南开区导入样例{number}商贸有限公司",
        "credit_code": first17 + check_character(first17),
        "street": "王顶堤街道",
        "industry": "消防",
        "department": "南开区消防救援支队",
        "source": "执法检查",
        "criterion": "《重大火灾隐患判定方法》（GB 35181-2017）第7.9条",
        "found_on": today - timedelta(days=30),
        "stage": "整改",
        "location": "南开区复康路 8 号地下一层",
        "principal_name": "王强",
        "principal_phone": "13800000000",
        "measures": "维修消防水泵和报警阀组，恢复系统联动",
        "responsible_person": "刘洋",
        "responsible_phone": "13900000000",
        "rectify_deadline": today + timedelta(days=60),
        "funds_wan": Decimal("5.8"),
        "emergency_plan": "灭火和应急疏散预案",
        "control_measures": "设置警戒区，专人值守",
    }


async def upload_through_the_page(page: Page, path: Path) -> None:
    await page.set_input_files("#import-file", str(path))
    await page.click("#import-form button[type=submit]")


async def test_the_committee_office_imports_a_ledger_and_watches_it_go(
    browser: Browser, live_ui: LiveUi, world: World, screenshots: Path, tmp_path: Path
) -> None:
    """The imports page against the real imports API: a bad ledger is reported row by row and nothing is
    imported; a good one is imported, and the same file again creates nothing twice."""
    api = live_ui.api
    before = (await api.http.get("/hazards", headers=api.auth(COMMITTEE))).json()["count"]
    page = await log_in(browser, live_ui, COMMITTEE, "/ui/imports")
    template = await api.http.get("/imports/template.xlsx", headers=api.auth(COMMITTEE))
    assert template.status_code == 200
    status = page.locator("#import-progress .status")
    problems = page.locator("#import-progress .import-errors tbody tr")

    bad = tmp_path / "督改台账（有误）.xlsx"
    bad.write_bytes(
        filled(template.content, [{"title": "储罐区报警器失效", "found_on": "去年冬天", "street": "不存在街道"}])
    )
    await upload_through_the_page(page, bad)
    await expect(status).to_contain_text("校验未通过，未导入任何隐患")
    await expect(problems.filter(has_text="发现日期")).to_have_count(1)
    await expect(problems.filter(has_text="所属街道")).to_have_count(1)
    await expect(problems.first.locator("td").first).to_have_text("4")
    await shoot(page, screenshots, "import-invalid")

    good = tmp_path / "督改台账.xlsx"
    good.write_bytes(filled(template.content, [fire_hazard(1), fire_hazard(2)]))
    await upload_through_the_page(page, good)
    await expect(status).to_contain_text("导入完成：督改台账.xlsx，共 2 行，合格 2 行，已导入 2 行，跳过 0 行")
    await expect(page.locator("#import-progress .bar")).to_have_attribute("style", "width: 100%;")
    await expect(page.locator("#import-progress .import-errors")).to_be_hidden()
    await shoot(page, screenshots, "import-done")

    await upload_through_the_page(page, good)
    await expect(status).to_contain_text("导入完成：督改台账.xlsx，共 2 行，合格 2 行，已导入 0 行，跳过 2 行")
    assert (await api.http.get("/hazards", headers=api.auth(COMMITTEE))).json()["count"] == before + 2
