"""Excel writers for the 台账 and the 调度表, in openpyxl's write-only mode.

A write-only worksheet streams each appended row to a temporary XML part, so a 10,000-row ledger never
exists as a workbook in memory. Write-only sheets have no merge_cells(), but they keep the `merged_cells`
range set that the sheet writer emits after the rows: adding the title ranges there gives the merged title
rows, with the title text in the first cell of each range.
"""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import IO, Any, Literal

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import Cell
from openpyxl.styles import Alignment, Border, Font, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from contracts.clock import china_date
from contracts.deadlines import Rag
from contracts.enums import Source, Stage
from ledgers.queries import DispatchBy, DispatchLine, Suspension
from readmodel.models import Hazard

MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

LedgerVersion = Literal["department", "enterprise"]

SOURCE_LABELS: dict[Source, str] = {
    Source.SELF_INSPECTION: "企业自查",
    Source.INSPECTION: "执法检查",
    Source.TIP_OFF: "举报",
}
RAG_LABELS: dict[Rag, str] = {Rag.GREEN: "绿", Rag.YELLOW: "黄", Rag.RED: "红"}
# contracts.deadlines.RUNG_LEVELS: the highest rung fired so far.
ESCALATION_LABELS = {0: "", 1: "函告", 2: "约谈", 3: "挂牌督办或通报"}

TEN_THOUSAND = Decimal(10000)
CENT = Decimal("0.01")

TITLE_FONT = Font(name="宋体", size=16, bold=True)
SUBTITLE_FONT = Font(name="宋体", size=11)
HEADER_FONT = Font(name="宋体", size=11, bold=True)
THIN = Side(style="thin")
BOX = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
CENTRED = Alignment(horizontal="center", vertical="center", wrap_text=True)


def chinese_date(day: date | datetime | None) -> str:
    """2026年11月23日; a timestamp is read on the China calendar."""
    if day is None:
        return ""
    if isinstance(day, datetime):
        day = china_date(day)
    return f"{day.year}年{day.month}月{day.day}日"


def ten_thousands(yuan: Decimal | None) -> Decimal | None:
    return None if yuan is None else (yuan / TEN_THOUSAND).quantize(CENT, rounding=ROUND_HALF_UP)


def yes_no(value: bool) -> str:
    return "是" if value else "否"


@dataclass(frozen=True)
class Column:
    header: str
    width: float
    number_format: str | None = None


class Sheet:
    """A write-only sheet with a merged title, a merged subtitle and a header row above its rows."""

    def __init__(self, workbook: Workbook, name: str, columns: list[Column], title: str, subtitle: str) -> None:
        self.ws: WriteOnlyWorksheet = workbook.create_sheet(name)
        self.columns = columns
        last = get_column_letter(len(columns))
        # Widths, merges and frozen panes are written before or after the rows: set them before appending.
        for index, column in enumerate(columns, 1):
            self.ws.column_dimensions[get_column_letter(index)].width = column.width
        self.ws.merged_cells.add(f"A1:{last}1")
        self.ws.merged_cells.add(f"A2:{last}2")
        self.ws.freeze_panes = "A4"
        self.ws.append([self.cell(title, font=TITLE_FONT, alignment=CENTRED)])
        self.ws.append([self.cell(subtitle, font=SUBTITLE_FONT, alignment=Alignment(horizontal="right"))])
        self.ws.append([self.cell(c.header, font=HEADER_FONT, alignment=CENTRED, border=BOX) for c in columns])

    def cell(self, value: Any, **style: Any) -> Cell:
        cell = WriteOnlyCell(self.ws, value=value)
        for name, setting in style.items():
            setattr(cell, name, setting)
        return cell

    def row(self, values: list[Any], *, font: Font | None = None) -> None:
        # Plain values for the long ledgers' cells: a styled cell costs several times as much to write.
        cells: list[Any] = []
        for value, column in zip(values, self.columns, strict=True):
            if column.number_format is None and font is None:
                cells.append(value)
                continue
            cell = self.cell(value)
            if column.number_format:
                cell.number_format = column.number_format
            if font is not None:
                cell.font = font
            cells.append(cell)
        self.ws.append(cells)


def new_workbook() -> Workbook:
    return Workbook(write_only=True)


RECTIFICATION_COLUMNS: dict[LedgerVersion, list[Column]] = {
    "department": [
        Column("序号", 6),
        Column("隐患编号", 20),
        Column("隐患名称", 30),
        Column("企业名称", 30),
        Column("统一社会信用代码", 22),
        Column("所属街道", 14),
        Column("行业领域", 12),
        Column("负责部门", 22),
        Column("隐患来源", 10),
        Column("判定依据", 40),
        Column("发现日期", 16),
        Column("整改时限", 16),
        Column("当前阶段", 14),
        Column("五到位", 8),
        Column("整改资金（万元）", 12, "0.00"),
        Column("红黄绿", 8),
        Column("督办层级", 14),
        Column("是否挂牌", 8),
        Column("销号日期", 16),
    ],
    # The enterprise's own register: its hazards only (jurisdiction), without the regulators' escalation.
    "enterprise": [
        Column("序号", 6),
        Column("隐患编号", 20),
        Column("隐患名称", 30),
        Column("隐患部位", 30),
        Column("判定依据", 40),
        Column("发现日期", 16),
        Column("整改时限", 16),
        Column("当前阶段", 14),
        Column("五到位", 8),
        Column("整改资金（万元）", 12, "0.00"),
        Column("销号日期", 16),
    ],
}


def rectification_values(number: int, hazard: Hazard, version: LedgerVersion) -> list[Any]:
    criterion = f"{hazard.criterion_standard}{hazard.criterion_clause}"
    stage = Stage(hazard.stage).label
    funds = ten_thousands(hazard.funds_yuan)
    if version == "enterprise":
        return [
            number,
            hazard.hazard_id,
            hazard.title,
            hazard.location,
            criterion,
            chinese_date(hazard.found_at),
            chinese_date(hazard.rectify_deadline),
            stage,
            yes_no(hazard.five_in_place),
            funds,
            chinese_date(hazard.closed_at),
        ]
    return [
        number,
        hazard.hazard_id,
        hazard.title,
        hazard.enterprise_name,
        hazard.enterprise_credit_code,
        hazard.street,
        hazard.industry,
        hazard.department,
        SOURCE_LABELS[Source(hazard.source)],
        criterion,
        chinese_date(hazard.found_at),
        chinese_date(hazard.rectify_deadline),
        stage,
        yes_no(hazard.five_in_place),
        funds,
        RAG_LABELS[Rag(hazard.rag)],
        ESCALATION_LABELS.get(hazard.escalation_level, str(hazard.escalation_level)),
        yes_no(hazard.listed),
        chinese_date(hazard.closed_at),
    ]


def write_rectification(
    out: IO[bytes], hazards: Iterable[Hazard], *, version: LedgerVersion, district: str, as_of: date
) -> int:
    """重大隐患督改台账, the department/street version or the enterprise version. Returns the row count."""
    workbook = new_workbook()
    suffix = "（企业版）" if version == "enterprise" else ""
    sheet = Sheet(
        workbook,
        "重大隐患督改台账",
        RECTIFICATION_COLUMNS[version],
        f"{district}重大事故隐患督改台账{suffix}",
        f"截至{chinese_date(as_of)}",
    )
    count = 0
    for count, hazard in enumerate(hazards, 1):
        sheet.row(rectification_values(count, hazard, version))
    workbook.save(out)
    return count


SUSPENSION_COLUMNS = [
    Column("序号", 6),
    Column("企业名称", 30),
    Column("隐患名称", 30),
    Column("责令文书编号", 26),
    Column("责令日期", 16),
    Column("当前阶段", 14),
    Column("复产（销号）日期", 18),
]


def write_suspension(out: IO[bytes], orders: Iterable[Suspension], *, district: str, as_of: date) -> int:
    """责令停产整顿台账: one row per suspension order."""
    workbook = new_workbook()
    sheet = Sheet(
        workbook, "责令停产整顿台账", SUSPENSION_COLUMNS, f"{district}责令停产整顿台账", f"截至{chinese_date(as_of)}"
    )
    count = 0
    for count, order in enumerate(orders, 1):
        hazard = order.hazard
        sheet.row(
            [
                count,
                hazard.enterprise_name,
                hazard.title,
                order.order_no,
                chinese_date(order.ordered_at),
                Stage(hazard.stage).label,
                chinese_date(hazard.closed_at),
            ]
        )
    workbook.save(out)
    return count


DISPATCH_HEADS: dict[DispatchBy, tuple[str, str]] = {"street": ("街道", "街道填报"), "department": ("部门", "部门填报")}


def rate(closed: int, found: int) -> Decimal:
    """整改率 in per cent, two decimals; nothing found counts as nothing to rectify, 0."""
    if found == 0:
        return Decimal(0).quantize(CENT)
    return (Decimal(closed * 100) / Decimal(found)).quantize(CENT, rounding=ROUND_HALF_UP)


def dispatch_values(first: Any, name: str, found: int, closed: int, overdue: int, listed: int) -> list[Any]:
    return [first, name, found, closed, found - closed, overdue, listed, rate(closed, found)]


def write_dispatch(out: IO[bytes], lines: list[DispatchLine], *, by: DispatchBy, district: str, as_of: date) -> None:
    """调度表: cumulative counts since the campaign began, per street or department, with a 合计 row."""
    head, filed_by = DISPATCH_HEADS[by]
    columns = [
        Column("序号", 6),
        Column(head, 24),
        Column("发现数", 10),
        Column("已整改（销号）数", 16),
        Column("整改中", 10),
        Column("逾期", 10),
        Column("挂牌督办", 10),
        Column("整改率（%）", 12, "0.00"),
    ]
    workbook = new_workbook()
    sheet = Sheet(
        workbook,
        "调度表",
        columns,
        f"{district}重大事故隐患排查整治进展情况调度表（{filed_by}）",
        f"截至{as_of.month}月{as_of.day}日（{chinese_date(as_of)}）累计",
    )
    for number, line in enumerate(lines, 1):
        sheet.row(dispatch_values(number, line.name, line.found, line.closed, line.overdue, line.listed))
    totals = [sum(getattr(line, field) for line in lines) for field in ("found", "closed", "overdue", "listed")]
    sheet.row(dispatch_values("合计", "", *totals), font=HEADER_FONT)
    workbook.save(out)


def chunks(out: IO[bytes], size: int = 64 * 1024) -> Iterator[bytes]:
    """The saved file, from the start, in pieces; closes it (a temporary file disappears) when done."""
    try:
        out.seek(0)
        while piece := out.read(size):
            yield piece
    finally:
        out.close()
