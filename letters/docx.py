"""Renders a stored letter as a .docx laid out like a Chinese official document (after GB/T 9704-2012).

Fonts are named, not embedded: a machine without 方正小标宋简体 or 仿宋_GB2312 shows Word's substitute.
The output depends on the stored letter only: the same letter gives the same bytes, whenever it is rendered.
"""

import io
import zipfile
from datetime import datetime

from docx import Document
from docx.document import Document as WordDocument
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Pt, RGBColor
from docx.text.paragraph import Paragraph

from letters.content import Letter, chinese_date
from readmodel.models import EscalationRow

RED = RGBColor(0xFF, 0x00, 0x00)
TITLE_FONT = "方正小标宋简体"
BODY_FONT = "仿宋_GB2312"
HEADER_PT = 26
TITLE_PT = 22  # 二号
BODY_PT = 16  # 三号
LINE = Pt(28)  # fixed line pitch: 22 lines a page


def render_letter(row: EscalationRow) -> bytes:
    """The letter of a document rung; raises ValueError for a rung that issued none (a reminder)."""
    if not row.letter:
        raise ValueError(f"escalation {row.id} ({row.rung}) has no letter")
    letter = Letter.model_validate(row.letter)
    document = Document()
    section = document.sections[0]
    section.page_width, section.page_height = Cm(21), Cm(29.7)
    section.top_margin, section.bottom_margin = Cm(3.7), Cm(3.5)
    section.left_margin, section.right_margin = Cm(2.8), Cm(2.6)

    header = _paragraph(document, letter.issuer, TITLE_FONT, HEADER_PT, WD_ALIGN_PARAGRAPH.CENTER, color=RED)
    header.paragraph_format.space_after = Pt(24)
    number = document.add_paragraph()
    _red_rule(number)
    _text(number, letter.doc_number, BODY_FONT, BODY_PT)
    number.alignment = WD_ALIGN_PARAGRAPH.CENTER
    number.paragraph_format.space_after = Pt(24)
    title = _paragraph(document, letter.title, TITLE_FONT, TITLE_PT, WD_ALIGN_PARAGRAPH.CENTER)
    title.paragraph_format.space_after = Pt(16)

    _paragraph(document, letter.addressee, BODY_FONT, BODY_PT, WD_ALIGN_PARAGRAPH.LEFT)
    for text in letter.paragraphs:
        body = _paragraph(document, text, BODY_FONT, BODY_PT, WD_ALIGN_PARAGRAPH.JUSTIFY)
        body.paragraph_format.first_line_indent = Pt(BODY_PT * 2)

    signature = _paragraph(document, letter.issuer, BODY_FONT, BODY_PT, WD_ALIGN_PARAGRAPH.RIGHT)
    signature.paragraph_format.space_before = Pt(BODY_PT * 3)
    _paragraph(document, chinese_date(letter.date), BODY_FONT, BODY_PT, WD_ALIGN_PARAGRAPH.RIGHT)
    if letter.copied_to:
        copied = _paragraph(document, f"抄送：{'，'.join(letter.copied_to)}。", BODY_FONT, BODY_PT - 2)
        copied.paragraph_format.space_before = Pt(BODY_PT * 2)

    issued = datetime(letter.date.year, letter.date.month, letter.date.day)
    properties = document.core_properties
    properties.title = letter.title
    properties.identifier = letter.doc_number
    properties.author = properties.last_modified_by = letter.issuer
    properties.created = properties.modified = issued
    properties.revision = 1
    out = io.BytesIO()
    document.save(out)
    return _stamped(out.getvalue(), issued)


def _paragraph(
    document: WordDocument,
    text: str,
    font: str,
    size: int,
    alignment: WD_ALIGN_PARAGRAPH = WD_ALIGN_PARAGRAPH.LEFT,
    *,
    color: RGBColor | None = None,
) -> Paragraph:
    paragraph = document.add_paragraph()
    _text(paragraph, text, font, size, color=color)
    paragraph.alignment = alignment
    paragraph.paragraph_format.line_spacing = LINE
    return paragraph


def _text(paragraph: Paragraph, text: str, font: str, size: int, *, color: RGBColor | None = None) -> None:
    run = paragraph.add_run(text)
    run.font.size = Pt(size)
    run.font.name = font  # Latin text and digits
    run._element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), font)
    if color is not None:
        run.font.color.rgb = color


def _red_rule(paragraph: Paragraph) -> None:
    """The red line under the 文号: a bottom border, added before any other paragraph property so the
    properties stay in schema order."""
    borders = OxmlElement("w:pBdr")
    bottom = OxmlElement("w:bottom")
    for name, value in (("w:val", "single"), ("w:sz", "18"), ("w:space", "6"), ("w:color", "FF0000")):
        bottom.set(qn(name), value)
    borders.append(bottom)
    paragraph._p.get_or_add_pPr().append(borders)


def _stamped(docx: bytes, moment: datetime) -> bytes:
    """The same archive with every entry dated `moment` instead of the time it was written."""
    stamp = (moment.year, moment.month, moment.day, 0, 0, 0)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(docx)) as source, zipfile.ZipFile(out, "w") as target:
        for entry in source.infolist():
            info = zipfile.ZipInfo(entry.filename, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(info, source.read(entry))
    return out.getvalue()
