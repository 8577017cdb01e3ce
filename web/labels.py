"""What the pages call things: Chinese labels for the codes the API speaks, and how a value is shown."""

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from api.jurisdiction import SEES_PHONES, mask_phone
from contracts.clock import CHINA_TZ, china_date
from contracts.deadlines import DEADLINE_LABELS, RUNG_LABELS, DeadlineKind, Owner, Rag, Rung
from contracts.enums import (
    ROLE_LABELS,
    Action,
    InterimControlKind,
    PublicationOf,
    ReviewDecision,
    Role,
    Source,
    Stage,
)
from contracts.hazard import Actor

ACTION_LABELS: dict[Action, str] = {
    Action.REPORT: "上报隐患",
    Action.VERIFY: "查实举报",
    Action.SUBMIT_PLAN: "提交整改方案",
    Action.CONFIRM_INTERIM_CONTROL: "落实临时管控措施",
    Action.REPORT_RECTIFICATION: "报告整改完成",
    Action.REVIEW: "审核验收",
    Action.REVOKE: "撤销",
    Action.REQUEST_EXTENSION: "申请延期",
    Action.DECIDE_EXTENSION: "审批延期",
    Action.LIST: "挂牌督办",
    Action.DELIST: "摘牌",
    Action.PUBLISH: "公示",
    Action.TRANSFER: "移送",
    Action.ESCALATE: "自动督办",
}

SOURCE_LABELS: dict[Source, str] = {
    Source.SELF_INSPECTION: "企业自查",
    Source.INSPECTION: "督导检查",
    Source.TIP_OFF: "群众举报",
}

RAG_LABELS: dict[Rag, str] = {Rag.RED: "红", Rag.YELLOW: "黄", Rag.GREEN: "绿"}
RAG_MEANINGS: dict[Rag, str] = {Rag.RED: "已逾期", Rag.YELLOW: "临近期限", Rag.GREEN: "按期推进"}

# contracts.deadlines.RUNG_LEVELS: the highest rung fired on an open deadline.
LEVEL_LABELS: dict[int, str] = {0: "", 1: "函告", 2: "约谈", 3: "挂牌/通报"}

OWNER_LABELS: dict[Owner, str] = {
    Owner.ENTERPRISE: "企业",
    Owner.DEPARTMENT: "行业部门",
    Owner.COMMITTEE_OFFICE: "区安委办",
}

CONTROL_LABELS: dict[InterimControlKind, str] = {
    InterimControlKind.CORDON: "设置警戒隔离",
    InterimControlKind.MONITORING: "加强监测监控",
    InterimControlKind.REDUCED_OPERATION: "限产限员",
    InterimControlKind.SUSPENSION: "责令停产整顿",
    InterimControlKind.OTHER: "其他措施",
}

DECISION_LABELS: dict[ReviewDecision, str] = {
    ReviewDecision.APPROVE: "通过，予以销号",
    ReviewDecision.REJECT: "不予通过",
}
PUBLICATION_LABELS: dict[PublicationOf, str] = {
    PublicationOf.LISTING: "挂牌督办公示",
    PublicationOf.DELISTING: "摘牌公示",
}

# Event payload fields, in the order a reader wants them; fields not named here are not shown.
PAYLOAD_FIELDS: dict[str, str] = {
    "title": "隐患名称",
    "verified": "核查结论",
    "decision": "审核结论",
    "approve": "审批结论",
    "opinion": "意见",
    "reason": "理由",
    "measures": "措施",
    "kind": "措施类型",
    "suspension_order_no": "停产整顿指令文书",
    "responsible_person": "责任人",
    "responsible_phone": "责任人电话",
    "funds_yuan": "资金（元）",
    "deadline": "整改时限",
    "emergency_plan": "应急预案",
    "description": "情况说明",
    "completed_on": "完成日期",
    "evidence": "佐证材料",
    "new_due_date": "申请延至",
    "level": "督办级别",
    "issuing_body": "督办单位",
    "doc_number": "文号",
    "of": "公示事项",
    "published_on": "公示日期",
    "channel": "公示渠道",
    "to_department": "移送至",
    "rung": "督办措施",
    "deadline_kind": "期限",
}


def role_label(role: Role) -> str:
    return ROLE_LABELS[role]


def stage_label(stage: Stage | str) -> str:
    return Stage(stage).label


def action_label(action: Action | str) -> str:
    return ACTION_LABELS[Action(action)]


def deadline_label(kind: DeadlineKind | str) -> str:
    return DEADLINE_LABELS[DeadlineKind(kind)]


def rung_label(rung: Rung | str) -> str:
    return RUNG_LABELS[Rung(rung)]


def when(moment: datetime | None) -> str:
    """A moment on the officials' wall clock: 2026-11-23 09:30."""
    return "" if moment is None else moment.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M")


def day(value: date | datetime | None) -> str:
    if value is None:
        return ""
    return (china_date(value) if isinstance(value, datetime) else value).isoformat()


def yuan(amount: Decimal | None) -> str:
    return "" if amount is None else f"{amount:,.2f}"


def ten_thousand_yuan(amount: Decimal | None) -> str:
    return "" if amount is None else f"{amount / 10000:,.2f}"


def countdown(due: datetime | None, now: datetime, *, overdue: bool = False) -> tuple[str, str]:
    """倒排工期: what is left until a deadline (the end of its due day), as text and a colour class.

    `overdue` is the ladder's own word that the deadline passed (its overdue rung fired): it wins over the clock.
    """
    if due is None:
        return "", ""
    days = (china_date(due) - china_date(now)).days
    if overdue or due < now:
        late = max(days * -1, 0)
        return (f"已逾期 {late} 天" if late else "已逾期"), "red"
    if days == 0:
        return "今日到期", "yellow"
    return f"剩余 {days} 天", "yellow" if days <= 5 else "green"


def payload_lines(payload: dict[str, Any], reader: Actor) -> list[tuple[str, str]]:
    """An event's payload as (label, text) lines, phone numbers masked for readers who may not see them."""
    lines = []
    for key, label in PAYLOAD_FIELDS.items():
        if key not in payload:
            continue
        value = payload[key]
        if key == "level" and isinstance(value, int):
            continue  # an escalation's rung level: its rung says it in words
        if key.endswith("phone") and reader.role not in SEES_PHONES:
            text = mask_phone(str(value))
        elif key == "verified":
            text = "属实" if value else "不属实"
        elif key == "approve":
            text = "同意" if value else "不同意"
        elif key == "decision":
            text = DECISION_LABELS[ReviewDecision(value)]
        elif key == "kind":  # only an interim control names a kind at the top of its payload
            text = CONTROL_LABELS[InterimControlKind(value)]
        elif key == "of":
            text = PUBLICATION_LABELS[PublicationOf(value)]
        elif key == "rung":
            text = rung_label(value)
        elif key == "deadline_kind":
            text = deadline_label(value)
        elif isinstance(value, list):
            text = "、".join(str(v) for v in value)
        else:
            text = str(value)
        lines.append((label, text))
    return lines
