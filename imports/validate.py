"""Every row of a ledger checked before anything is imported; each problem named by row, column and reason.

A row either opens a new hazard (an ImportItem: a report and the stage data it is imported with), or names a
hazard already in this system (skipped: an export read back in), or has problems. Each row has a key that
makes importing it twice harmless: its 隐患编号, else a hash of credit code, hazard name and found date.
"""

import hashlib
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, TypeVar

from pydantic import TypeAdapter, ValidationError

from contracts.base import CreditCode, LongText, Phone, Text
from contracts.clock import china_date, day_start
from contracts.deadlines import ListingLevel
from contracts.enums import STAGE_LABELS, Industry, InterimControlKind, Source, Stage
from contracts.hazard import (
    Actor,
    Criterion,
    Enterprise,
    HazardReport,
    ImportedHazard,
    InterimControl,
    ListingOrder,
    Plan,
    Revocation,
)
from imports import creditcode
from imports.layout import (
    CONTROL_KIND_LABELS,
    CONTROL_KINDS,
    FUNDS_YUAN,
    HEADER_KEYS,
    SOURCES,
    STAGES,
    YES_NO,
    YES_NO_LABELS,
    LedgerColumn,
)
from imports.parse import Header, Problem, RawRow
from ledgers.xlsx import SOURCE_LABELS
from workflows import lifecycle

T = TypeVar("T")

HAZARD_ID = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]{0,63}$")
CRITERION = re.compile(r"^(《[^《》]+》)\s*(\S.*)$", re.DOTALL)
DATE_TEXT = re.compile(r"^(\d{4})\s*[年./-]\s*(\d{1,2})\s*[月./-]\s*(\d{1,2})\s*日?$")
EXCEL_EPOCH = date(1899, 12, 30)
CENT = Decimal("0.01")
TEN_THOUSAND = Decimal(10000)
MAX_FUNDS_YUAN = Decimal("999999999999.99")

_TEXT: TypeAdapter[str] = TypeAdapter(Text)
_LONG_TEXT: TypeAdapter[str] = TypeAdapter(LongText)
_PHONE: TypeAdapter[str] = TypeAdapter(Phone)
_CREDIT_CODE: TypeAdapter[str] = TypeAdapter(CreditCode)

COLUMN_BY_KEY: dict[str, LedgerColumn] = {c.key: c for c in HEADER_KEYS.values()}

# lifecycle.import_problems names fields; the reader wants the column.
FIELD_COLUMNS: dict[str, str] = {
    "industry": "industry",
    "found_at": "found_on",
    "rectified_on_spot": "stage",
    "stage": "stage",
    "plan": "measures",
    "plan_submitted_on": "plan_submitted_on",
    "rectified_on": "rectified_on",
    "closed_on": "closed_on",
    "revocation": "revocation_reason",
    "listing": "listed",
    "listed_on": "listed_on",
    "interim_control": "suspension_order_no",
}
# A model's own complaint about a field (rare: cells are checked first), by the field's name.
MODEL_FIELD_COLUMNS: dict[str, str] = {
    "title": "title",
    "description": "description",
    "name": "enterprise_name",
    "credit_code": "credit_code",
    "principal_name": "principal_name",
    "principal_phone": "principal_phone",
    "street": "street",
    "department": "department",
    "standard": "criterion",
    "clause": "criterion",
    "location": "location",
    "measures": "measures",
    "responsible_person": "responsible_person",
    "responsible_phone": "responsible_phone",
    "funds_yuan": "funds_wan",
    "deadline": "rectify_deadline",
    "emergency_plan": "emergency_plan",
    "suspension_order_no": "suspension_order_no",
    "doc_number": "listing_doc_number",
    "reason": "revocation_reason",
    "rectification_note": "rectification_note",
}


@dataclass(frozen=True)
class Context:
    actor: Actor
    now: datetime
    file_sha256: str
    # The district's streets; None when the district has no register and no hazards yet.
    streets: frozenset[str] | None
    # 督办单位 of a listing the ledger records (the district's committee office).
    listing_issuer: str

    @property
    def today(self) -> date:
        return china_date(self.now)


@dataclass(frozen=True)
class Known:
    """A hazard already in this system under a row's key."""

    hazard_id: str
    credit_code: str


Lookup = Callable[[Collection[str]], Mapping[str, Known]]


@dataclass(frozen=True)
class ImportItem:
    row: int
    key: str
    # The 隐患编号 the ledger gives; None: the importer allocates one for the key.
    hazard_id: str | None
    report: HazardReport
    imported: ImportedHazard


@dataclass
class Validation:
    total_rows: int = 0
    items: list[ImportItem] = field(default_factory=list)
    # Rows naming hazards already in this system: valid, skipped.
    known_rows: list[int] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def valid_rows(self) -> int:
        return len(self.items) + len(self.known_rows)


class RowReader:
    """One row's cells, read and checked one column at a time; problems collect instead of raising."""

    def __init__(self, raw: RawRow, header: Header) -> None:
        self.raw = raw
        self.header = header
        self.problems: list[Problem] = []

    def column(self, key: str) -> str:
        return self.header.name(COLUMN_BY_KEY[key])

    def add(self, key: str, message: str) -> None:
        problem = Problem(self.raw.number, self.column(key) if key else "", message)
        if problem not in self.problems:
            self.problems.append(problem)

    def present(self, key: str) -> bool:
        value = self.raw.cells.get(key)
        return value is not None and not (isinstance(value, str) and not value.strip())

    def require(self, key: str, message: str = "必填") -> None:
        if not self.present(key):
            self.add(key, message)

    def _string(self, key: str) -> str | None:
        value = self.raw.cells.get(key)
        if value is None:
            return None
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, datetime | date):
            value = value.isoformat()
        text = str(value).strip()
        return text or None

    def text(self, key: str, *, long: bool = False) -> str | None:
        text = self._string(key)
        if text is None:
            return None
        try:
            return (_LONG_TEXT if long else _TEXT).validate_python(text)
        except ValidationError:
            self.add(key, f"长度不能超过 {5000 if long else 200} 个字符")
            return None

    def phone(self, key: str) -> str | None:
        text = self._string(key)
        if text is None:
            return None
        try:
            return _PHONE.validate_python(text)
        except ValidationError:
            self.add(key, "电话格式不正确：应为 11 位手机号，或带区号的固定电话（如 022-23456789）")
            return None

    def credit_code(self, key: str) -> str | None:
        text = self._string(key)
        if text is None:
            return None
        code = text.upper()
        problem = creditcode.problem(code)
        if problem is not None:
            self.add(key, problem)
            return None
        return _CREDIT_CODE.validate_python(code)

    def choice(self, key: str, table: Mapping[str, T], what: str, shown: Iterable[str] | None = None) -> T | None:
        """A label from `table` (synonyms included); a wrong one is answered with the `shown` labels."""
        text = self._string(key)
        if text is None:
            return None
        found = table.get(re.sub(r"\s+", "", text))
        if found is None:
            labels = "、".join(shown if shown is not None else table)
            self.add(key, f"未知的{what}「{text}」，应为：{labels}")
        return found

    def day(self, key: str, *, not_after: date | None = None) -> date | None:
        value = self.raw.cells.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        parsed = _parse_date(value)
        if parsed is None:
            self.add(key, "日期格式不正确，应为 2026年3月5日 或 2026-03-05")
            return None
        if not_after is not None and parsed > not_after:
            self.add(key, "日期不能晚于今天")
            return None
        return parsed

    def money(self, key: str, *, ten_thousands: bool) -> Decimal | None:
        text = self._string(key)
        if text is None:
            return None
        try:
            amount = Decimal(text.replace(",", "").replace("，", ""))
        except InvalidOperation:
            self.add(key, f"整改资金应为数字（单位：{'万元' if ten_thousands else '元'}）")
            return None
        if not amount.is_finite():
            self.add(key, "整改资金应为数字")
            return None
        if amount < 0:
            self.add(key, "整改资金不能为负数")
            return None
        yuan = (amount * TEN_THOUSAND if ten_thousands else amount).quantize(CENT, rounding=ROUND_HALF_UP)
        if yuan > MAX_FUNDS_YUAN:
            self.add(key, "整改资金数额过大，请核对单位")
            return None
        return yuan


def _parse_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        # A date typed into a cell without a date format: Excel's serial day number.
        if 1 <= value < 2958466:
            return EXCEL_EPOCH + timedelta(days=int(value))
        return None
    match = DATE_TEXT.match(str(value).strip())
    if match is None:
        return None
    try:
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None


@dataclass
class Parsed:
    """Every column of a row, read and format-checked; None where empty or wrong."""

    hazard_id: str | None = None
    title: str | None = None
    description: str | None = None
    enterprise_name: str | None = None
    credit_code: str | None = None
    street: str | None = None
    industry: Industry | None = None
    department: str | None = None
    source: Source | None = None
    criterion: Criterion | None = None
    found_on: date | None = None
    stage: Stage | None = None
    rectify_deadline: date | None = None
    five_in_place: bool | None = None
    funds_yuan: Decimal | None = None
    listed: bool | None = None
    closed_on: date | None = None
    location: str | None = None
    principal_name: str | None = None
    principal_phone: str | None = None
    measures: str | None = None
    responsible_person: str | None = None
    responsible_phone: str | None = None
    emergency_plan: str | None = None
    plan_submitted_on: date | None = None
    control_kind: InterimControlKind | None = None
    control_measures: str | None = None
    suspension_order_no: str | None = None
    rectified_on: date | None = None
    rectification_note: str | None = None
    listing_doc_number: str | None = None
    listed_on: date | None = None
    revocation_reason: str | None = None


def _read(reader: RowReader, context: Context) -> Parsed:
    today = context.today
    for key in ("title", "enterprise_name", "credit_code", "street", "industry", "department", "source"):
        reader.require(key)
    for key in ("criterion", "found_on", "stage"):
        reader.require(key)
    p = Parsed()
    if reader.present("hazard_id"):
        hazard_id = reader.text("hazard_id")
        if hazard_id is not None and not HAZARD_ID.match(hazard_id):
            reader.add("hazard_id", "隐患编号只能由字母、数字和 - _ . 组成，最长 64 位")
        else:
            p.hazard_id = hazard_id
    p.title = reader.text("title")
    p.description = reader.text("description", long=True)
    p.enterprise_name = reader.text("enterprise_name")
    p.credit_code = reader.credit_code("credit_code")
    p.street = reader.text("street")
    if p.street is not None and context.streets is not None and p.street not in context.streets:
        reader.add("street", f"「{p.street}」不是本区的街道，应为：{'、'.join(sorted(context.streets))}")
        p.street = None
    p.industry = reader.choice("industry", {i.value: i for i in Industry}, "行业领域")
    p.department = reader.text("department")
    p.source = reader.choice("source", SOURCES, "隐患来源", SOURCE_LABELS.values())
    criterion = reader.text("criterion")
    if criterion is not None:
        match = CRITERION.match(criterion)
        if match is None:
            reader.add("criterion", "应写明判定标准及条款，如：《工贸企业重大事故隐患判定标准》第四条")
        else:
            p.criterion = Criterion(standard=match[1], clause=match[2].strip())
    p.found_on = reader.day("found_on")
    if p.found_on is not None and p.found_on > today:
        reader.add("found_on", "发现日期不能晚于今天")
        p.found_on = None
    p.stage = reader.choice("stage", STAGES, "阶段", STAGE_LABELS.values())
    p.rectify_deadline = reader.day("rectify_deadline")
    if p.rectify_deadline is not None and p.found_on is not None and p.rectify_deadline < p.found_on:
        reader.add("rectify_deadline", "整改时限不能早于发现日期")
    p.five_in_place = reader.choice("five_in_place", YES_NO, "五到位取值", YES_NO_LABELS)
    p.funds_yuan = reader.money("funds_wan", ten_thousands=True)
    if reader.present(FUNDS_YUAN.key):
        p.funds_yuan = reader.money(FUNDS_YUAN.key, ten_thousands=False)
    p.listed = reader.choice("listed", YES_NO, "是否挂牌取值", YES_NO_LABELS)
    p.closed_on = reader.day("closed_on", not_after=today)
    p.location = reader.text("location")
    p.principal_name = reader.text("principal_name")
    p.principal_phone = reader.phone("principal_phone")
    p.measures = reader.text("measures", long=True)
    p.responsible_person = reader.text("responsible_person")
    p.responsible_phone = reader.phone("responsible_phone")
    p.emergency_plan = reader.text("emergency_plan", long=True)
    p.plan_submitted_on = reader.day("plan_submitted_on", not_after=today)
    p.control_kind = reader.choice("control_kind", CONTROL_KINDS, "临时管控方式", CONTROL_KIND_LABELS)
    p.control_measures = reader.text("control_measures", long=True)
    p.suspension_order_no = reader.text("suspension_order_no")
    p.rectified_on = reader.day("rectified_on", not_after=today)
    p.rectification_note = reader.text("rectification_note", long=True)
    p.listing_doc_number = reader.text("listing_doc_number")
    p.listed_on = reader.day("listed_on", not_after=today)
    p.revocation_reason = reader.text("revocation_reason", long=True)
    return p


def row_key(p: Parsed) -> str | None:
    """The row's idempotency key, or None when the cells it is made of are missing or wrong."""
    if p.hazard_id is not None:
        return f"ledger:{p.hazard_id}"
    if p.credit_code is None or p.title is None or p.found_on is None:
        return None
    digest = hashlib.sha256(f"{p.credit_code}\n{p.title}\n{p.found_on.isoformat()}".encode()).hexdigest()
    return f"hash:{digest[:32]}"


PLAN_COLUMNS = ("measures", "responsible_person", "responsible_phone", "rectify_deadline")
BEFORE_CONTROLS = frozenset({Stage.VERIFY, Stage.PLAN, Stage.INTERIM_CONTROL})
BEFORE_REVIEW = BEFORE_CONTROLS | {Stage.RECTIFY}


def _check_new(reader: RowReader, p: Parsed) -> None:
    """What a hazard new to this system needs beyond the export's columns, by its recorded stage."""
    for key in ("location", "principal_name", "principal_phone"):
        reader.require(key, "新导入的隐患须填写（本系统导出的台账中已有的隐患除外）")
    stage = p.stage
    if stage is None:
        return
    plan_given = any(reader.present(k) for k in ("measures", "responsible_person", "responsible_phone"))
    if plan_given and stage in (Stage.VERIFY, Stage.PLAN):
        reader.add("measures", f"「{stage.label}」阶段尚无整改方案，请核对当前阶段")
    elif stage in (Stage.INTERIM_CONTROL, Stage.RECTIFY):
        for key in PLAN_COLUMNS:
            reader.require(key, f"「{stage.label}」阶段的隐患已有整改方案，须填写")
    elif plan_given:
        for key in PLAN_COLUMNS:
            reader.require(key, "填写整改方案时须同时填写整改措施、整改责任人及电话、整改时限")
    if stage is Stage.INTERIM_CONTROL:
        reader.require("plan_submitted_on", "「临时管控」阶段须填写，临时管控期限从此日起算")
    if stage is Stage.REVIEW:
        reader.require("rectified_on", "「审核验收」阶段须填写，验收期限从此日起算")
    if stage is Stage.CLOSED:
        reader.require("closed_on", "已销号的隐患须填写销号日期")
    if stage is Stage.REVOKED:
        reader.require("revocation_reason", "已撤销的隐患须写明撤销原因")
    if p.listed:
        reader.require("listing_doc_number", "挂牌督办的隐患须填写督办文号")
    elif reader.present("listing_doc_number") or reader.present("listed_on"):
        reader.add("listed", "填写了督办文号或挂牌日期，「是否挂牌」应为是")
    if reader.present("control_measures") and stage in BEFORE_CONTROLS:
        reader.add("control_measures", f"「{stage.label}」阶段尚未落实临时管控措施，请核对当前阶段")
    if not reader.present("control_measures") and (
        reader.present("control_kind") or reader.present("suspension_order_no")
    ):
        reader.require("control_measures", "填写临时管控方式或停产文书编号时须写明临时管控措施")
    if reader.present("rectified_on") and stage in BEFORE_REVIEW:
        reader.add("rectified_on", f"「{stage.label}」阶段尚未整改完成，不应填写整改完成日期")


def need(value: T | None) -> T:
    """A cell the checks before made sure of."""
    assert value is not None
    return value


def _models(reader: RowReader, p: Parsed, context: Context, key: str) -> tuple[HazardReport, ImportedHazard]:
    """The report and import data of a row whose cells all passed; raises ValidationError if a model refuses."""
    title = need(p.title)
    report = HazardReport(
        title=title,
        description=p.description or title,
        enterprise=Enterprise(
            name=need(p.enterprise_name),
            credit_code=need(p.credit_code),
            principal_name=need(p.principal_name),
            principal_phone=need(p.principal_phone),
        ),
        street=need(p.street),
        industry=need(p.industry),
        department=need(p.department),
        source=need(p.source),
        criterion=need(p.criterion),
        location=need(p.location),
        found_at=day_start(need(p.found_on)),
    )
    plan = None
    if p.measures is not None:
        plan = Plan(
            measures=p.measures,
            responsible_person=need(p.responsible_person),
            responsible_phone=need(p.responsible_phone),
            funds_yuan=p.funds_yuan,
            deadline=need(p.rectify_deadline),
            emergency_plan=p.emergency_plan,
        )
    control = None
    if p.control_measures is not None:
        control = InterimControl(
            kind=p.control_kind or InterimControlKind.OTHER,
            measures=p.control_measures,
            suspension_order_no=p.suspension_order_no,
        )
    listing = None
    if p.listed:
        listing = ListingOrder(
            level=ListingLevel.DISTRICT, issuing_body=context.listing_issuer, doc_number=need(p.listing_doc_number)
        )
    imported = ImportedHazard(
        stage=need(p.stage),
        key=key,
        file_sha256=context.file_sha256,
        row=reader.raw.number,
        plan=plan,
        plan_submitted_on=p.plan_submitted_on,
        interim_control=control,
        rectify_deadline=p.rectify_deadline,
        funds_yuan=p.funds_yuan,
        five_in_place=bool(p.five_in_place),
        rectified_on=p.rectified_on,
        rectification_note=p.rectification_note,
        closed_on=p.closed_on,
        listing=listing,
        listed_on=p.listed_on,
        revocation=Revocation(reason=p.revocation_reason) if p.revocation_reason else None,
    )
    return report, imported


def _build(reader: RowReader, p: Parsed, context: Context, key: str) -> ImportItem | None:
    _check_new(reader, p)
    if reader.problems:
        return None
    try:
        report, imported = _models(reader, p, context, key)
    except ValidationError as err:
        for error in err.errors():
            name = str(error["loc"][-1]) if error["loc"] else ""
            reader.add(MODEL_FIELD_COLUMNS.get(name, "stage"), f"数据不合法：{error['msg']}")
        return None
    for name, message in lifecycle.import_problems(report, imported, context.actor, context.now):
        reader.add(FIELD_COLUMNS.get(name, "stage"), message)
    if reader.problems:
        return None
    return ImportItem(row=reader.raw.number, key=key, hazard_id=p.hazard_id, report=report, imported=imported)


def validate(
    rows: Iterable[RawRow],
    header: Header,
    context: Context,
    lookup: Lookup,
    progress: Callable[[int, int], None] | None = None,
) -> Validation:
    """Check every row. `lookup` answers which keys name hazards already here; `progress` hears how many rows
    are checked and how many of them are valid."""
    result = Validation()
    drafts: list[tuple[RowReader, Parsed, str | None]] = []
    first_row: dict[str, int] = {}
    for raw in rows:
        reader = RowReader(raw, header)
        parsed = _read(reader, context)
        key = row_key(parsed)
        if key is not None:
            if key in first_row:
                column = "hazard_id" if parsed.hazard_id is not None else "title"
                same = "隐患编号" if parsed.hazard_id is not None else "统一社会信用代码、隐患名称和发现日期"
                reader.add(column, f"与第 {first_row[key]} 行重复（{same}相同）")
            else:
                first_row[key] = raw.number
        drafts.append((reader, parsed, key))
    result.total_rows = len(drafts)
    known = lookup(list(first_row))
    for done, (reader, parsed, key) in enumerate(drafts, 1):
        existing = known.get(key) if key is not None else None
        if existing is not None:
            if parsed.credit_code is not None and existing.credit_code != parsed.credit_code:
                reader.add(
                    "hazard_id",
                    f"隐患编号 {existing.hazard_id} 在本系统中属于另一企业（统一社会信用代码 {existing.credit_code}）",
                )
            if not reader.problems:
                result.known_rows.append(reader.raw.number)
        elif key is not None and not reader.problems:
            item = _build(reader, parsed, context, key)
            if item is not None:
                result.items.append(item)
        else:
            _check_new(reader, parsed)
        result.problems.extend(reader.problems)
        if progress is not None:
            progress(done, result.valid_rows)
    return result
