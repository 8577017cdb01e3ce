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
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.styles import Alignment, Border, Font, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from contracts.clock import china_date
from contracts.deadlines import RUNG_LABELS, Rag, Rung
from contracts.enums import Source, Stage
from contracts.reports import quarter_number
from ledgers.queries import DispatchBy, DispatchLine, Suspension
from readmodel.models import Hazard
from readmodel.statistics import GroupBy, StatisticsPublic, StatisticsRow
from readmodel.timeline import EFFECTIVENESS_RUNGS

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
        for raw, column in zip(values, self.columns, strict=True):
            # Text people typed may hold control characters, which a worksheet cannot: they show as nothing anyway.
            value = ILLEGAL_CHARACTERS_RE.sub("", raw) if isinstance(raw, str) else raw
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


def dispatch_sheet(
    workbook: Workbook, lines: list[DispatchLine], *, by: DispatchBy, district: str, as_of: date, name: str = "调度表"
) -> None:
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
    sheet = Sheet(
        workbook,
        name,
        columns,
        f"{district}重大事故隐患排查整治进展情况调度表（{filed_by}）",
        f"截至{as_of.month}月{as_of.day}日（{chinese_date(as_of)}）累计",
    )
    for number, line in enumerate(lines, 1):
        sheet.row(dispatch_values(number, line.name, line.found, line.closed, line.overdue, line.listed))
    sheet.row(dispatch_values("合计", "", *dispatch_totals(lines)), font=HEADER_FONT)


def dispatch_totals(lines: list[DispatchLine]) -> tuple[int, int, int, int]:
    """The 合计 row's found, closed, overdue and listed."""
    found, closed, overdue, listed = (
        sum(getattr(line, field) for line in lines) for field in ("found", "closed", "overdue", "listed")
    )
    return found, closed, overdue, listed


def write_dispatch(out: IO[bytes], lines: list[DispatchLine], *, by: DispatchBy, district: str, as_of: date) -> None:
    workbook = new_workbook()
    dispatch_sheet(workbook, lines, by=by, district=district, as_of=as_of)
    workbook.save(out)


QUARTER_NAMES = {1: "第一季度", 2: "第二季度", 3: "第三季度", 4: "第四季度"}
STATISTICS_HEADS: dict[GroupBy, str] = {GroupBy.STREET: "街道", GroupBy.INDUSTRY: "行业领域"}
EFFECTIVENESS_LABELS: dict[Rung, str] = {rung: RUNG_LABELS[rung] for rung in EFFECTIVENESS_RUNGS}


def statistics_values(first: Any, name: str, row: StatisticsRow) -> list[Any]:
    revoked = row.found - row.closed - row.open
    return [
        first,
        name,
        row.found,
        row.by_source[Source.SELF_INSPECTION],
        row.by_source[Source.INSPECTION],
        row.by_source[Source.TIP_OFF],
        row.closed,
        row.open,
        revoked,
        row.listed,
        row.five_in_place,
        rate(row.closed, row.found),
        ten_thousands(row.funds_yuan),
        row.median_days_to_close,
    ]


def statistics_sheet(workbook: Workbook, result: StatisticsPublic, *, name: str, title: str, subtitle: str) -> None:
    """One line per street or industry of `result`, with its 合计: found, how, and what became of them."""
    columns = [
        Column("序号", 6),
        Column(STATISTICS_HEADS[result.group_by], 24),
        Column("发现数", 10),
        Column("企业自查", 10),
        Column("执法检查", 10),
        Column("群众举报", 10),
        Column("已销号", 10),
        Column("整改中", 10),
        Column("已撤销", 10),
        Column("挂牌督办", 10),
        Column("五到位", 10),
        Column("整改率（%）", 12, "0.00"),
        Column("整改资金（万元）", 14, "0.00"),
        Column("销号用时中位数（天）", 14, "0.0"),
    ]
    sheet = Sheet(workbook, name, columns, title, subtitle)
    for number, row in enumerate(result.rows, 1):
        sheet.row(statistics_values(number, row.key or "", row))
    sheet.row(statistics_values("合计", "", result.total), font=HEADER_FONT)


def effectiveness_sheet(workbook: Workbook, total: StatisticsRow, *, title: str, subtitle: str) -> None:
    """督办成效: how often each rung fired and how soon the stage it pressed on was then done."""
    columns = [
        Column("序号", 6),
        Column("督办措施", 16),
        Column("次数", 10),
        Column("其后完成该阶段", 16),
        Column("完成用时中位数（小时）", 20, "0.0"),
    ]
    sheet = Sheet(workbook, "督办成效", columns, title, subtitle)
    for number, (rung, label) in enumerate(EFFECTIVENESS_LABELS.items(), 1):
        effect = total.escalation_effectiveness[rung]
        sheet.row([number, label, effect.fired, effect.stage_done, effect.median_hours_to_done])


@dataclass(frozen=True)
class QuarterlyReport:
    """What the quarterly report prints: the 调度表 as of its day and the statistics of its quarter."""

    district: str
    as_of: date
    quarter_first: date
    streets: list[DispatchLine]
    departments: list[DispatchLine]
    by_street: StatisticsPublic
    by_industry: StatisticsPublic


def write_quarterly(out: IO[bytes], report: QuarterlyReport) -> None:
    """季度报告: the two 调度表 (cumulative), then the quarter's statistics by street and by industry (hazards
    found in the quarter, as they stood at its day) and the effectiveness of the escalation ladder on them."""
    workbook = new_workbook()
    as_of, first = report.as_of, report.quarter_first
    dispatch_sheet(workbook, report.streets, by="street", district=report.district, as_of=as_of, name="调度表（街道）")
    dispatch_sheet(
        workbook, report.departments, by="department", district=report.district, as_of=as_of, name="调度表（部门）"
    )
    quarter = f"{report.district}{first.year}年{QUARTER_NAMES[quarter_number(first)]}"
    subtitle = f"{chinese_date(first)}至{chinese_date(as_of)}发现的隐患，截至{as_of.month}月{as_of.day}日"
    for result, by_what in ((report.by_street, "按街道"), (report.by_industry, "按行业领域")):
        statistics_sheet(
            workbook,
            result,
            name=f"季度统计（{STATISTICS_HEADS[result.group_by]}）",
            title=f"{quarter}重大事故隐患排查整治情况统计表（{by_what}）",
            subtitle=subtitle,
        )
    effectiveness_sheet(
        workbook, report.by_street.total, title=f"{quarter}重大事故隐患督办成效统计表", subtitle=subtitle
    )
    workbook.save(out)


def chunks(out: IO[bytes], size: int = 64 * 1024) -> Iterator[bytes]:
    """The saved file, from the start, in pieces; closes it (a temporary file disappears) when done."""
    try:
        out.seek(0)
        while piece := out.read(size):
            yield piece
    finally:
        out.close()
