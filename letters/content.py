"""The wording of escalations: the one-line reason and the full text of each letter.

A letter's text is composed once, when the rung fires, and stored with the escalation (`EscalationRow.letter`):
the .docx is rendered from that stored text, so a download years later shows what was issued even if this
wording has changed since.
"""

from datetime import date

from pydantic import BaseModel

from contracts.clock import china_date
from contracts.deadlines import (
    DEADLINE_LABELS,
    RUNG_LABELS,
    DeadlineKind,
    IssueEscalationInput,
    ListingLevel,
    Owner,
    Rung,
)

# What the owner of each deadline has to do, as a verb phrase: "仍未{…}", "请立即{…}".
ACTIONS: dict[DeadlineKind, str] = {
    DeadlineKind.VERIFY: "完成举报查实",
    DeadlineKind.PLAN: "提交整改方案",
    DeadlineKind.INTERIM_CONTROL: "落实临时管控措施",
    DeadlineKind.RECTIFY: "完成整改",
    DeadlineKind.REVIEW: "完成审核验收",
    DeadlineKind.EXTENSION_DECISION: "作出延期申请审批决定",
    DeadlineKind.LISTING_PUBLICATION: "完成挂牌督办公示",
    DeadlineKind.DELISTING_PUBLICATION: "完成摘牌公示",
}

TITLES: dict[Rung, str] = {
    Rung.SUMMONS: "约谈通知书",
    Rung.LISTING: "挂牌督办通知书",
}


class Letter(BaseModel):
    """Everything a letter shows. Stored as JSON; `format` names the layout it was composed for."""

    format: int = 1
    issuer: str
    doc_number: str
    title: str
    addressee: str
    paragraphs: list[str]
    copied_to: list[str]
    date: date


def chinese_date(day: date) -> str:
    """The date as official documents write it: 2026年12月31日."""
    return f"{day.year}年{day.month}月{day.day}日"


def timing(rung: Rung, working_days_late: int) -> str:
    if working_days_late > 0:
        return f"已逾期 {working_days_late} 个工作日"
    if rung is not Rung.REMINDER:
        return "已逾期"
    if working_days_late == 0:
        return "今日到期"
    return f"{-working_days_late} 个工作日后到期"


def reason(input: IssueEscalationInput, working_days_late: int) -> str:
    """One line for lists and notifications: which deadline, when it was due, how late, what was done."""
    deadline = input.deadline
    owner = deadline.owner
    if input.rung is Rung.REMINDER:
        done = "提醒按期办理"
    elif input.rung is Rung.NOTICE_LETTER:
        done = f"函告{input.enterprise_name if owner is Owner.ENTERPRISE else input.department}"
    elif input.rung is Rung.SUMMONS:
        done = (
            f"约谈{input.enterprise_name}主要负责人{input.principal_name}"
            if owner is Owner.ENTERPRISE
            else f"约谈{input.department}主要负责同志"
        )
    elif input.rung is Rung.LISTING:
        done = f"实施{ListingLevel.DISTRICT.value}挂牌督办"
    else:
        done = f"对{input.department}予以{RUNG_LABELS[input.rung]}"
    label = DEADLINE_LABELS[deadline.kind]
    return f"{label}期限为{chinese_date(deadline.due_date)}，{timing(input.rung, working_days_late)}，{done}。"


def compose_letter(
    input: IssueEscalationInput, *, issuer: str, doc_number: str, copied_to: list[str], working_days_late: int
) -> Letter:
    """The text of a document rung's letter to the deadline's owner (enterprise or department)."""
    deadline = input.deadline
    label = DEADLINE_LABELS[deadline.kind]
    action = ACTIONS[deadline.kind]
    issued_on = china_date(input.scheduled_at)
    late = f"{working_days_late}个工作日" if working_days_late > 0 else ""
    facts = (
        f"{label}的期限为{chinese_date(deadline.due_date)}。截至{chinese_date(issued_on)}，已逾期{late}，仍未{action}。"
    )
    # A tip-off is not a major hazard until it is verified.
    subject = "重大事故隐患举报" if deadline.kind is DeadlineKind.VERIFY else "重大事故隐患"
    hazard = f"“{input.title}”{subject}（隐患编号：{input.hazard_id}"
    safe = "在隐患消除前落实安全防范措施，防止发生生产安全事故"
    enterprise = deadline.owner is Owner.ENTERPRISE
    if enterprise:
        addressee = f"{input.enterprise_name}："
        opening = f"你单位{hazard}），{facts}"
    else:
        addressee = f"{input.department}："
        opening = f"你单位负责的{hazard}，责任单位：{input.enterprise_name}），{facts}"

    if input.rung is Rung.NOTICE_LETTER and enterprise:
        title = "关于督促限期整改重大事故隐患的函"
        body = [
            f"根据《中华人民共和国安全生产法》和重大事故隐患治理有关规定，现函告你单位：请立即{action}，{safe}，"
            f"并将办理情况书面报送{input.department}。逾期仍未{action}的，将依规约谈你单位主要负责人。",
            "特此函告。",
        ]
    elif input.rung is Rung.NOTICE_LETTER:
        title = f"关于督促办理重大事故隐患{label}的函"
        body = [
            f"按照“管行业必须管安全”的要求，现函告你单位：请立即{action}，并将办理情况书面报送我办。"
            "逾期仍未办理的，将依规约谈你单位主要负责同志。",
            "特此函告。",
        ]
    elif input.rung is Rung.SUMMONS and enterprise:
        title = TITLES[Rung.SUMMONS]
        body = [
            f"根据《中华人民共和国安全生产法》和安全生产约谈有关规定，决定约谈你单位主要负责人"
            f"{input.principal_name}同志。请{input.principal_name}同志按时参加约谈，说明逾期原因，"
            "报告整改措施、责任、资金、时限和预案落实情况。约谈具体时间、地点另行通知。",
            f"约谈后仍未{action}的，将依规对该隐患实施挂牌督办。",
            "特此通知。",
        ]
    elif input.rung is Rung.SUMMONS:
        title = TITLES[Rung.SUMMONS]
        body = [
            "根据安全生产约谈有关规定，决定约谈你单位主要负责同志。请按时参加约谈，说明逾期原因及办理计划。"
            "约谈具体时间、地点另行通知。",
            "约谈后仍未办理的，将依规予以通报。",
            "特此通知。",
        ]
    elif input.rung is Rung.LISTING:
        title = TITLES[Rung.LISTING]
        body = [
            f"经研究，决定对该重大事故隐患实施{ListingLevel.DISTRICT.value}挂牌督办，督办单位为{input.department}。"
            f"请你单位主要负责人{input.principal_name}同志亲自负责，立即{action}，{safe}。",
            f"整改完成后，请向{input.department}申请审核验收；隐患经验收销号后，由我办予以摘牌。"
            "对拒不整改的，将依法依规严肃处理。",
            "特此通知。",
        ]
    else:
        title = f"关于{input.department}逾期未完成重大事故隐患{label}的通报"
        addressee = "区安委会各成员单位："
        opening = f"{input.department}负责的{hazard}，责任单位：{input.enterprise_name}），{facts}"
        body = [
            f"为压实“三管三必须”监管责任，现对{input.department}予以通报。请{input.department}立即{action}，"
            "并向我办书面说明逾期原因及整改措施。",
            "各单位要引以为戒，严格落实重大事故隐患闭环管理要求，确保按期办结。",
            "特此通报。",
        ]
    return Letter(
        issuer=issuer,
        doc_number=doc_number,
        title=title,
        addressee=addressee,
        paragraphs=[opening, *body],
        copied_to=copied_to,
        date=issued_on,
    )
