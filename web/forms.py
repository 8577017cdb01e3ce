"""The action forms a hazard's page offers: the API's actions this reader's role may take in the hazard's stage.

Which role may act comes from contracts.policy (the table the API and the workflow use) and in which stage from
workflows.lifecycle.STAGES_FOR; a form only rules out what its page can plainly see (nothing to decide, nothing to
delist). Everything else is the API's to refuse, and its answer is shown next to the field it names.

Field names are the API's JSON names, so an error's `field` finds its input. static/app.js posts the form.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Literal, TypeVar

from contracts.deadlines import DEADLINE_OWNERS, STAGE_DEADLINES, DeadlineKind, ListingLevel, Owner
from contracts.enums import Action, InterimControlKind, PublicationOf
from contracts.hazard import Actor, HazardState
from contracts.policy import may
from web.labels import CONTROL_LABELS, DECISION_LABELS, PUBLICATION_LABELS
from workflows.lifecycle import STAGES_FOR, is_listed

Kind = Literal["text", "textarea", "date", "money", "select", "radio", "files"]


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    kind: Kind = "text"
    required: bool = True
    choices: tuple[tuple[str, str], ...] = ()
    # "bool": the chosen "true"/"false" is sent as a JSON boolean.
    json: Literal["string", "bool"] = "string"
    hint: str = ""
    default: str = ""


@dataclass(frozen=True)
class ActionForm:
    action: Action
    title: str
    endpoint: str  # after /hazards/{id}
    fields: tuple[Field, ...]
    submit: str
    # Ends or withdraws the hazard: the button asks for confirmation.
    grave: bool = False


Code = TypeVar("Code", bound=StrEnum)


def _choices(labels: Mapping[Code, str]) -> tuple[tuple[str, str], ...]:
    return tuple((code.value, label) for code, label in labels.items())


OPINION = Field("opinion", "意见", "textarea")
YES_NO = (("true", "同意"), ("false", "不同意"))

FORMS: dict[Action, ActionForm] = {
    Action.VERIFY: ActionForm(
        Action.VERIFY,
        "查实举报",
        "verify",
        (Field("verified", "核查结论", "radio", choices=(("true", "属实"), ("false", "不属实")), json="bool"), OPINION),
        "提交核查结论",
    ),
    Action.SUBMIT_PLAN: ActionForm(
        Action.SUBMIT_PLAN,
        "提交整改方案（五到位）",
        "plan",
        (
            Field("measures", "整改措施", "textarea"),
            Field("responsible_person", "责任人"),
            Field("responsible_phone", "责任人电话"),
            Field("funds_yuan", "整改资金（元）", "money", required=False, hint="五到位之一：资金"),
            Field("deadline", "整改时限", "date"),
            Field("emergency_plan", "应急预案", "textarea", required=False, hint="五到位之一：预案"),
        ),
        "提交整改方案",
    ),
    Action.CONFIRM_INTERIM_CONTROL: ActionForm(
        Action.CONFIRM_INTERIM_CONTROL,
        "落实临时管控措施",
        "interim-controls",
        (
            Field("kind", "措施类型", "select", choices=_choices(CONTROL_LABELS)),
            Field("measures", "具体措施", "textarea"),
            Field("suspension_order_no", "停产整顿指令文书编号", required=False, hint="责令停产整顿时必填"),
        ),
        "确认临时管控措施",
    ),
    Action.REPORT_RECTIFICATION: ActionForm(
        Action.REPORT_RECTIFICATION,
        "报告整改完成",
        "rectification",
        (
            Field("description", "整改情况", "textarea"),
            Field("completed_on", "完成日期", "date"),
            Field("evidence", "佐证材料", "files", hint="照片、PDF、Word 或 Excel，可多选"),
        ),
        "报告整改完成",
    ),
    Action.REVIEW: ActionForm(
        Action.REVIEW,
        "审核验收",
        "review",
        (Field("decision", "审核结论", "radio", choices=_choices(DECISION_LABELS)), OPINION),
        "提交审核结论",
        grave=True,
    ),
    Action.REQUEST_EXTENSION: ActionForm(
        Action.REQUEST_EXTENSION,
        "申请延期",
        "extensions",
        (Field("new_due_date", "申请延至", "date"), Field("reason", "延期理由", "textarea")),
        "提交延期申请",
    ),
    Action.DECIDE_EXTENSION: ActionForm(
        Action.DECIDE_EXTENSION,
        "审批延期申请",
        "extensions/decision",
        (Field("approve", "审批结论", "radio", choices=YES_NO, json="bool"), OPINION),
        "提交审批结论",
    ),
    Action.LIST: ActionForm(
        Action.LIST,
        "挂牌督办",
        "listing",
        (
            Field("level", "督办级别", "select", choices=tuple((level.value, level.value) for level in ListingLevel)),
            Field("issuing_body", "督办单位"),
            Field("doc_number", "督办文号"),
        ),
        "挂牌督办",
    ),
    Action.DELIST: ActionForm(
        Action.DELIST,
        "摘牌",
        "delisting",
        (OPINION, Field("doc_number", "文号", required=False)),
        "摘牌",
    ),
    Action.PUBLISH: ActionForm(
        Action.PUBLISH,
        "登记公示",
        "publication",
        (
            Field("of", "公示事项", "select", choices=_choices(PUBLICATION_LABELS)),
            Field("published_on", "公示日期", "date"),
            Field("channel", "公示渠道", hint="例如：区政府网站"),
        ),
        "登记公示",
    ),
    Action.TRANSFER: ActionForm(
        Action.TRANSFER,
        "移送其他部门",
        "transfer",
        (Field("to_department", "移送至", hint="接收部门全称"), Field("reason", "移送理由", "textarea")),
        "移送",
        grave=True,
    ),
    Action.REVOKE: ActionForm(
        Action.REVOKE,
        "撤销隐患",
        "revoke",
        (Field("reason", "撤销理由", "textarea", hint="如：经复核不属于重大事故隐患"),),
        "撤销",
        grave=True,
    ),
}

PUBLICATION_DEADLINES = {
    PublicationOf.LISTING: DeadlineKind.LISTING_PUBLICATION,
    PublicationOf.DELISTING: DeadlineKind.DELISTING_PUBLICATION,
}


def _pending_extension(state: HazardState) -> bool:
    return any(e.decision is None for e in state.extensions)


def _offered(action: Action, state: HazardState) -> bool:
    """What the page can see for itself rules a form out; the API judges everything else."""
    match action:
        case Action.REQUEST_EXTENSION:
            kind = STAGE_DEADLINES.get(state.stage)
            return kind is not None and DEADLINE_OWNERS[kind] is Owner.ENTERPRISE and not _pending_extension(state)
        case Action.DECIDE_EXTENSION:
            return _pending_extension(state)
        case Action.LIST:
            return not is_listed(state)
        case Action.DELIST:
            return is_listed(state)
        case Action.PUBLISH:
            return any(d.kind in PUBLICATION_DEADLINES.values() for d in state.deadlines)
        case _:
            return True


def forms_for(actor: Actor, state: HazardState) -> list[ActionForm]:
    return [
        form
        for action, form in FORMS.items()
        if may(actor.role, action) and state.stage in STAGES_FOR[action] and _offered(action, state)
    ]


def defaults(form: ActionForm, state: HazardState, today: date) -> dict[str, str]:
    """Values a form starts with: today for dates of things done, the pending publication's kind. A decision
    (review, verification, extension) starts unchosen: the reviewer picks it."""
    values = {field.name: field.default for field in form.fields}
    if form.action is Action.REPORT_RECTIFICATION:
        values["completed_on"] = today.isoformat()
    elif form.action is Action.PUBLISH:
        values["published_on"] = today.isoformat()
        pending = next(
            (of for of, kind in PUBLICATION_DEADLINES.items() if any(d.kind is kind for d in state.deadlines)), None
        )
        if pending is not None:
            values["of"] = pending.value
    elif form.action is Action.CONFIRM_INTERIM_CONTROL:
        values["kind"] = InterimControlKind.CORDON.value
    return values
