"""Letters render from what was stored when the rung fired, in the official-document layout."""

import io

import docx
import pytest
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.shared import RGBColor
from docx.text.paragraph import Paragraph
from sqlalchemy import Engine
from sqlmodel import Session, select

from activities.escalation import EscalationActivities
from contracts.deadlines import DeadlineKind, Rung
from letters.docx import render_letter
from readmodel.models import EscalationRow
from tests.test_escalation_records import DEPARTMENT, ENTERPRISE, ISSUER, PREFIX, STREET, escalation_input, issue


@pytest.fixture
def activities(engine: Engine) -> EscalationActivities:
    return EscalationActivities(engine, issuer_name=ISSUER, doc_number_prefix=PREFIX)


def issued(
    engine: Engine,
    activities: EscalationActivities,
    rung: Rung,
    *,
    kind: DeadlineKind = DeadlineKind.RECTIFY,
    working_days_late: int = 1,
) -> EscalationRow:
    input = escalation_input("120104-2026-00042", rung, kind=kind, working_days_late=working_days_late)
    record = issue(activities, input)
    with Session(engine) as session:
        return session.exec(select(EscalationRow).where(EscalationRow.doc_number == record.doc_number)).one()


def opened(row: EscalationRow) -> list[str]:
    return [p.text for p in docx.Document(io.BytesIO(render_letter(row))).paragraphs]


def east_asia_font(paragraph: Paragraph) -> str:
    fonts = paragraph.runs[0]._element.xpath("./w:rPr/w:rFonts/@w:eastAsia")
    assert len(fonts) == 1
    return str(fonts[0])


def test_a_notice_letter_reads_like_an_official_letter(engine: Engine, activities: EscalationActivities) -> None:
    row = issued(engine, activities, Rung.NOTICE_LETTER)
    document = docx.Document(io.BytesIO(render_letter(row)))
    paragraphs = document.paragraphs
    texts = [p.text for p in paragraphs]

    header, number, title, addressee = paragraphs[:4]
    assert header.text == ISSUER
    assert header.runs[0].font.color.rgb == RGBColor(0xFF, 0x00, 0x00)
    assert (number.text, number.alignment) == ("南开安委办函〔2027〕1号", WD_ALIGN_PARAGRAPH.CENTER)
    assert number._p.xpath("./w:pPr/w:pBdr/w:bottom/@w:color") == ["FF0000"]
    assert title.text == "关于督促限期整改重大事故隐患的函"
    assert east_asia_font(title) == "方正小标宋简体"
    assert addressee.text == f"{ENTERPRISE}："
    assert east_asia_font(addressee) == "仿宋_GB2312"
    body = texts[4]
    assert "“储罐区可燃气体报警装置失效”重大事故隐患（隐患编号：120104-2026-00042）" in body
    assert "完成整改的期限为2026年12月31日" in body
    assert "截至2027年1月4日，已逾期1个工作日" in body
    assert any("请立即完成整改" in t for t in texts)
    assert texts[-1] == f"抄送：{STREET}，{DEPARTMENT}。"
    signature, day = paragraphs[-3:-1]
    assert (signature.text, day.text) == (ISSUER, "2027年1月4日")
    assert signature.alignment == day.alignment == WD_ALIGN_PARAGRAPH.RIGHT
    assert document.core_properties.identifier == "南开安委办函〔2027〕1号"


def test_the_same_letter_renders_to_the_same_bytes(engine: Engine, activities: EscalationActivities) -> None:
    row = issued(engine, activities, Rung.NOTICE_LETTER)
    assert render_letter(row) == render_letter(row)


def test_the_download_shows_what_was_issued_not_what_the_row_says_now(
    engine: Engine, activities: EscalationActivities
) -> None:
    row = issued(engine, activities, Rung.SUMMONS, working_days_late=10)
    before = opened(row)
    row.reason, row.target_organisation, row.copied_to = "changed", "另一家公司", []
    assert opened(row) == before


@pytest.mark.parametrize(
    ("rung", "kind", "title", "addressee", "says"),
    [
        (Rung.SUMMONS, DeadlineKind.RECTIFY, "约谈通知书", f"{ENTERPRISE}：", "决定约谈你单位主要负责人王强同志"),
        (
            Rung.LISTING,
            DeadlineKind.RECTIFY,
            "挂牌督办通知书",
            f"{ENTERPRISE}：",
            "区级挂牌督办，督办单位为南开区应急管理局",
        ),
        (
            Rung.NOTICE_LETTER,
            DeadlineKind.REVIEW,
            "关于督促办理重大事故隐患审核验收的函",
            f"{DEPARTMENT}：",
            "请立即完成审核验收",
        ),
        (Rung.SUMMONS, DeadlineKind.REVIEW, "约谈通知书", f"{DEPARTMENT}：", "决定约谈你单位主要负责同志"),
        (
            Rung.CIRCULAR,
            DeadlineKind.REVIEW,
            "关于南开区应急管理局逾期未完成重大事故隐患审核验收的通报",
            "区安委会各成员单位：",
            "现对南开区应急管理局予以通报",
        ),
    ],
)
def test_each_document_rung_has_its_own_letter(
    engine: Engine,
    activities: EscalationActivities,
    rung: Rung,
    kind: DeadlineKind,
    title: str,
    addressee: str,
    says: str,
) -> None:
    texts = opened(issued(engine, activities, rung, kind=kind, working_days_late=10))
    assert texts[2:4] == [title, addressee]
    assert any(says in t for t in texts), texts
    assert "已逾期10个工作日" in texts[4]


def test_a_reminder_has_no_letter(engine: Engine, activities: EscalationActivities) -> None:
    issue(activities, escalation_input("H-1", Rung.REMINDER, working_days_late=-3))
    with Session(engine) as session:
        row = session.exec(select(EscalationRow)).one()
    with pytest.raises(ValueError, match="no letter"):
        render_letter(row)
