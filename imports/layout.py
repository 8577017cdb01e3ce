"""The 重大隐患督改台账 an import reads: the columns of our own export (ledgers/xlsx.py, department/street version)
plus the supplementary columns a hazard new to this system needs, their labels, and the template.

Columns are found by their header, in any order, under a title of any number of rows: the header row is the
first of the first ten rows that names 隐患名称 and at least two more known columns. Columns the export writes
but that this system computes (序号, 红黄绿, 督办层级) are read past.
"""

import re
from dataclasses import dataclass
from datetime import date
from typing import IO, Literal

from contracts.enums import STAGE_LABELS, Industry, InterimControlKind, Source, Stage
from imports.district import District
from ledgers.xlsx import RECTIFICATION_COLUMNS, SOURCE_LABELS, Column, Sheet, chinese_date, new_workbook

Need = Literal["required", "new", "stage", "optional", "ignored"]

NEED_LABELS: dict[Need, str] = {
    "required": "必填",
    "new": "新隐患必填",
    "stage": "按阶段填写",
    "optional": "选填",
    "ignored": "导入时不读取（系统计算）",
}


@dataclass(frozen=True)
class LedgerColumn:
    key: str
    header: str
    width: float
    need: Need
    note: str
    aliases: tuple[str, ...] = ()


# The export's columns, keyed by their header there: an export must always read back.
_EXPORTED: dict[str, tuple[str, Need, str, tuple[str, ...]]] = {
    "序号": ("number", "ignored", "", ()),
    "隐患编号": (
        "hazard_id",
        "optional",
        "本系统或原台账的编号（字母、数字、-、_、.）；填写后作为隐患编号，重复导入不会重复建档",
        ("编号",),
    ),
    "隐患名称": ("title", "required", "简要写明隐患，如：储罐区可燃气体报警装置失效", ("隐患内容", "重大事故隐患")),
    "企业名称": ("enterprise_name", "required", "生产经营单位全称", ("单位名称", "生产经营单位")),
    "统一社会信用代码": ("credit_code", "required", "18 位，校验位须正确", ("信用代码",)),
    "所属街道": ("street", "required", "本区街道全称，如：王顶堤街道", ("街道",)),
    "行业领域": ("industry", "required", "、".join(i.value for i in Industry), ("行业",)),
    "负责部门": ("department", "required", "负有监管职责的行业部门全称", ("监管部门", "行业部门")),
    "隐患来源": ("source", "required", "企业自查、执法检查或举报", ("来源",)),
    "判定依据": (
        "criterion",
        "required",
        "判定标准及条款，如：《工贸企业重大事故隐患判定标准》第四条",
        ("判定标准",),
    ),
    "发现日期": ("found_on", "required", "如 2026年3月5日 或 2026-03-05；不能晚于今天", ("排查日期",)),
    "整改时限": ("rectify_deadline", "stage", "整改方案确定的完成期限；临时管控、整改阶段必填", ("整改期限",)),
    "当前阶段": ("stage", "required", "、".join(STAGE_LABELS.values()), ("整改进展", "阶段")),
    "五到位": ("five_in_place", "optional", "是或否；有整改方案时按方案计算，无方案时（如已销号）按此列", ()),
    "整改资金（万元）": ("funds_wan", "optional", "不能为负数", ("整改资金",)),
    "红黄绿": ("rag", "ignored", "", ()),
    "督办层级": ("escalation", "ignored", "", ()),
    "是否挂牌": ("listed", "optional", "是或否；挂牌的须填写督办文号", ("挂牌督办",)),
    "销号日期": ("closed_on", "stage", "已销号的必填", ()),
}

SUPPLEMENT: list[LedgerColumn] = [
    LedgerColumn("description", "隐患描述", 40, "optional", "不填时以隐患名称为描述"),
    LedgerColumn("location", "隐患部位", 30, "new", "隐患所在的具体位置", ("隐患所在部位", "部位")),
    LedgerColumn("principal_name", "主要负责人", 12, "new", "企业主要负责人姓名"),
    LedgerColumn(
        "principal_phone",
        "主要负责人电话",
        16,
        "new",
        "11 位手机号或带区号的固定电话",
        ("联系电话", "主要负责人联系电话"),
    ),
    LedgerColumn("measures", "整改措施", 40, "stage", "临时管控、整改阶段必填"),
    LedgerColumn("responsible_person", "整改责任人", 12, "stage", "临时管控、整改阶段必填", ("责任人",)),
    LedgerColumn("responsible_phone", "整改责任人电话", 16, "stage", "临时管控、整改阶段必填", ("责任人电话",)),
    LedgerColumn("emergency_plan", "应急预案", 30, "optional", "预案名称；与整改资金齐全即为五到位"),
    LedgerColumn("plan_submitted_on", "方案提交日期", 16, "stage", "临时管控阶段必填：临时管控期限从此日起算"),
    LedgerColumn("control_kind", "临时管控方式", 14, "optional", "警戒隔离、监测监控、限产限量、停产停业或其他"),
    LedgerColumn("control_measures", "临时管控措施", 30, "optional", "已落实的临时管控措施（整改及以后阶段）"),
    LedgerColumn("suspension_order_no", "责令停产文书编号", 24, "optional", "临时管控方式为停产停业时必填"),
    LedgerColumn("rectified_on", "整改完成日期", 16, "stage", "审核验收阶段必填：验收期限从此日起算"),
    LedgerColumn("rectification_note", "整改完成情况", 30, "optional", "整改完成的情况说明"),
    LedgerColumn("listing_doc_number", "督办文号", 24, "optional", "是否挂牌为是时必填", ("挂牌督办文号",)),
    LedgerColumn("listed_on", "挂牌日期", 16, "optional", "挂牌督办的日期"),
    LedgerColumn("revocation_reason", "撤销原因", 30, "stage", "已撤销的必填"),
]

# The export states funds in 万元; a district's own ledger may state them in 元.
FUNDS_YUAN = LedgerColumn("funds_yuan", "整改资金（元）", 14, "optional", "不能为负数", ("整改资金(元)",))


def _exported_columns() -> list[LedgerColumn]:
    columns = []
    for column in RECTIFICATION_COLUMNS["department"]:
        key, need, note, aliases = _EXPORTED[column.header]
        columns.append(LedgerColumn(key, column.header, column.width, need, note, aliases))
    return columns


EXPORTED = _exported_columns()
COLUMNS: list[LedgerColumn] = [*EXPORTED, *SUPPLEMENT]
REQUIRED_KEYS = frozenset(c.key for c in COLUMNS if c.need == "required")
HEADER_SCAN_ROWS = 10


def normalise_header(text: str) -> str:
    """Headers as people type them: spaces and line breaks anywhere, half-width brackets."""
    return re.sub(r"\s+", "", text).replace("(", "（").replace(")", "）")


HEADER_KEYS: dict[str, LedgerColumn] = {
    normalise_header(name): column for column in [*COLUMNS, FUNDS_YUAN] for name in (column.header, *column.aliases)
}

STAGES: dict[str, Stage] = {label: stage for stage, label in STAGE_LABELS.items()} | {
    "待查实": Stage.VERIFY,
    "核查": Stage.VERIFY,
    "制定方案": Stage.PLAN,
    "方案制定": Stage.PLAN,
    "整改方案": Stage.PLAN,
    "整改中": Stage.RECTIFY,
    "正在整改": Stage.RECTIFY,
    "待验收": Stage.REVIEW,
    "验收": Stage.REVIEW,
    "整改完成待验收": Stage.REVIEW,
    "销号": Stage.CLOSED,
    "已整改销号": Stage.CLOSED,
    "撤销": Stage.REVOKED,
}

SOURCES: dict[str, Source] = {label: source for source, label in SOURCE_LABELS.items()} | {
    "企业自查上报": Source.SELF_INSPECTION,
    "自查": Source.SELF_INSPECTION,
    "自查上报": Source.SELF_INSPECTION,
    "督导检查": Source.INSPECTION,
    "检查发现": Source.INSPECTION,
    "监督检查": Source.INSPECTION,
    "督导/执法检查": Source.INSPECTION,
    "群众举报": Source.TIP_OFF,
    "举报投诉": Source.TIP_OFF,
}

CONTROL_KINDS: dict[str, InterimControlKind] = {
    "警戒隔离": InterimControlKind.CORDON,
    "监测监控": InterimControlKind.MONITORING,
    "限产限量": InterimControlKind.REDUCED_OPERATION,
    "停产停业": InterimControlKind.SUSPENSION,
    "停产整顿": InterimControlKind.SUSPENSION,
    "责令停产整顿": InterimControlKind.SUSPENSION,
    "其他": InterimControlKind.OTHER,
}

CONTROL_KIND_LABELS = ("警戒隔离", "监测监控", "限产限量", "停产停业", "其他")

YES_NO: dict[str, bool] = {"是": True, "否": False, "√": True, "×": False, "Y": True, "N": False}
YES_NO_LABELS = ("是", "否")


def write_template(out: IO[bytes], *, district: District | None, district_name: str, today: date) -> None:
    """An empty ledger with every column the import reads, and a sheet explaining each column."""
    workbook = new_workbook()
    Sheet(
        workbook,
        "重大隐患督改台账",
        [Column(c.header, c.width) for c in COLUMNS],
        f"{district_name}重大事故隐患督改台账（导入模板）",
        f"模板生成于{chinese_date(today)}；各列填写要求见「填写说明」",
    )
    notes = Sheet(
        workbook,
        "填写说明",
        [Column("列名", 20), Column("是否必填", 22), Column("说明", 90)],
        "重大隐患督改台账导入填写说明",
        "本系统导出的督改台账可直接导入；已在本系统中的隐患不会重复建档",
    )
    for column in COLUMNS:
        notes.row([column.header, NEED_LABELS[column.need], column.note])
    if district is not None:
        notes.row(["所属街道", "可填写的街道", "、".join(district.streets)])
    notes.row(
        [
            "说明",
            "阶段与日期",
            "隐患按「当前阶段」建档，期限按台账原有日期计算；导入前已过的督办节点（函告、约谈、挂牌督办、通报）"
            "不再补发，已逾期的隐患显示为红色，督办从导入后下一个到期的节点继续。",
        ]
    )
    workbook.save(out)
