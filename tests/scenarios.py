"""Sample actors, reports and the lifecycle paths, shared by the workflow tests and the history recorder."""

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from pydantic import BaseModel
from temporalio.client import Client, WorkflowHandle

from contracts.clock import CHINA_TZ, china_date
from contracts.enums import Industry, InterimControlKind, PublicationOf, ReviewDecision, Role, Source, Stage
from contracts.hazard import (
    WORKFLOW_VERSION,
    ActionResult,
    Actor,
    ConfirmInterimControlInput,
    Criterion,
    Delisting,
    DelistInput,
    Enterprise,
    HazardReport,
    HazardState,
    InterimControl,
    Plan,
    Publication,
    PublishInput,
    Rectification,
    ReportHazardInput,
    ReportRectificationInput,
    ReviewInput,
    ReviewOpinion,
    Revocation,
    RevokeInput,
    SubmitPlanInput,
    Verification,
    VerifyInput,
    workflow_id,
)
from workflows.hazard import HazardWorkflow

Handle = WorkflowHandle[HazardWorkflow, HazardState]

CREDIT_CODE = "91120104MA0500001K"
ENTERPRISE = Actor(
    id="ent-001",
    name="王强",
    role=Role.ENTERPRISE,
    organisation="天津市南开区恒达化工有限公司",
    credit_code=CREDIT_CODE,
)
STREET = Actor(id="street-001", name="刘芳", role=Role.STREET, organisation="王顶堤街道", street="王顶堤街道")
INSPECTOR = Actor(
    id="dept-001",
    name="李明",
    role=Role.DEPARTMENT,
    organisation="南开区应急管理局",
    industries=[Industry.HAZARDOUS_CHEMICALS],
)
REVIEWER = Actor(
    id="dept-002",
    name="赵敏",
    role=Role.DEPARTMENT,
    organisation="南开区应急管理局",
    industries=[Industry.HAZARDOUS_CHEMICALS],
)
COMMITTEE = Actor(id="co-001", name="陈静", role=Role.COMMITTEE_OFFICE, organisation="南开区安委办")
AUDITOR = Actor(id="aud-001", name="孙伟", role=Role.AUDITOR, organisation="南开区审计局")


def report(
    source: Source = Source.SELF_INSPECTION, *, found_at: datetime | None = None, on_spot: bool = False
) -> HazardReport:
    found = found_at or datetime.now(CHINA_TZ) - timedelta(days=1)
    return HazardReport(
        title="储罐区可燃气体报警装置失效",
        description="甲类储罐区 3 台可燃气体检测报警器未与紧急切断装置联锁，其中 1 台失效。",
        enterprise=Enterprise(
            name="天津市南开区恒达化工有限公司",
            credit_code=CREDIT_CODE,
            principal_name="王强",
            principal_phone="13800000000",
        ),
        street="王顶堤街道",
        industry=Industry.HAZARDOUS_CHEMICALS,
        department="南开区应急管理局",
        source=source,
        criterion=Criterion(standard="《化工和危险化学品生产经营单位重大生产安全事故隐患判定标准》", clause="第十条"),
        location="南开区华苑路 12 号 2 号储罐区",
        found_at=found,
        rectified_on_spot=rectification(china_date(found)) if on_spot else None,
    )


def rectification(completed_on: date | None = None) -> Rectification:
    return Rectification(
        description="更换失效报警器，完成与紧急切断阀联锁调试。",
        completed_on=completed_on or china_date(datetime.now(CHINA_TZ)),
        evidence=["sha256:4f2a9c0d", "sha256:77b1e3aa"],
    )


def plan(*, complete: bool = True, deadline: date | None = None) -> Plan:
    return Plan(
        measures="停用失效报警器所在储罐，更换报警器并与紧急切断阀联锁。",
        responsible_person="王强",
        responsible_phone="13800000000",
        funds_yuan=Decimal("58000.00") if complete else None,
        deadline=deadline or china_date(datetime.now(CHINA_TZ)) + timedelta(days=30),
        emergency_plan="储罐区泄漏专项应急预案（2026 版）" if complete else None,
    )


@dataclass(frozen=True)
class Step:
    update: str
    input: Callable[[], BaseModel]


def submit_plan() -> Step:
    return Step("submit_plan", lambda: SubmitPlanInput(actor=ENTERPRISE, plan=plan()))


def confirm_control(kind: InterimControlKind = InterimControlKind.CORDON, actor: Actor = ENTERPRISE) -> Step:
    order = "南开应急责停〔2026〕7号" if kind is InterimControlKind.SUSPENSION else None
    control = InterimControl(kind=kind, measures="设置警戒区，专人 24 小时值守。", suspension_order_no=order)
    return Step("confirm_interim_control", lambda: ConfirmInterimControlInput(actor=actor, control=control))


def report_rectification() -> Step:
    return Step(
        "report_rectification", lambda: ReportRectificationInput(actor=ENTERPRISE, rectification=rectification())
    )


def review(decision: ReviewDecision) -> Step:
    opinion = "整改到位，同意销号。" if decision is ReviewDecision.APPROVE else "联锁未调试完成，不予通过。"
    return Step("review", lambda: ReviewInput(actor=REVIEWER, review=ReviewOpinion(decision=decision, opinion=opinion)))


def verify(verified: bool) -> Step:
    opinion = "经现场核查，举报属实。" if verified else "经现场核查，举报不属实。"
    return Step(
        "verify", lambda: VerifyInput(actor=INSPECTOR, verification=Verification(verified=verified, opinion=opinion))
    )


def delist() -> Step:
    return Step("delist", lambda: DelistInput(actor=COMMITTEE, delisting=Delisting(opinion="整改已完成，同意摘牌。")))


def publication(of: PublicationOf, on: date) -> PublishInput:
    return PublishInput(actor=COMMITTEE, publication=Publication(of=of, published_on=on, channel="南开区人民政府网站"))


def publish_today(of: PublicationOf) -> Step:
    """Published today, China time: on a real server (a time-skipping one has a date of its own)."""
    return Step("publish", lambda: publication(of, china_date(datetime.now(CHINA_TZ))))


def revoke() -> Step:
    return Step(
        "revoke", lambda: RevokeInput(actor=COMMITTEE, revocation=Revocation(reason="经复核不属于重大事故隐患。"))
    )


@dataclass(frozen=True)
class Path:
    reporter: Actor
    report: Callable[[], HazardReport]
    steps: list[Step]
    final: Stage


STANDARD = [submit_plan(), confirm_control(), report_rectification()]

PATHS: dict[str, Path] = {
    "self_report_closed": Path(ENTERPRISE, report, [*STANDARD, review(ReviewDecision.APPROVE)], Stage.CLOSED),
    "review_rejected_then_closed": Path(
        ENTERPRISE,
        report,
        [*STANDARD, review(ReviewDecision.REJECT), report_rectification(), review(ReviewDecision.APPROVE)],
        Stage.CLOSED,
    ),
    "tip_off_verified_closed": Path(
        STREET,
        lambda: report(Source.TIP_OFF),
        [
            verify(True),
            submit_plan(),
            confirm_control(InterimControlKind.SUSPENSION, INSPECTOR),
            report_rectification(),
            review(ReviewDecision.APPROVE),
        ],
        Stage.CLOSED,
    ),
    "tip_off_unfounded": Path(STREET, lambda: report(Source.TIP_OFF), [verify(False)], Stage.REVOKED),
    "rectified_on_spot_closed": Path(
        INSPECTOR, lambda: report(Source.INSPECTION, on_spot=True), [review(ReviewDecision.APPROVE)], Stage.CLOSED
    ),
    "revoked_in_plan": Path(ENTERPRISE, report, [revoke()], Stage.REVOKED),
    "revoked_in_verify": Path(STREET, lambda: report(Source.TIP_OFF), [revoke()], Stage.REVOKED),
    "revoked_in_interim_control": Path(ENTERPRISE, report, [submit_plan(), revoke()], Stage.REVOKED),
    "revoked_in_rectify": Path(ENTERPRISE, report, [submit_plan(), confirm_control(), revoke()], Stage.REVOKED),
    "revoked_in_review": Path(ENTERPRISE, report, [*STANDARD, revoke()], Stage.REVOKED),
}


async def start(
    client: Client,
    path: Path,
    task_queue: str,
    hazard_id: str | None = None,
    *,
    task_timeout: timedelta | None = None,
) -> Handle:
    hazard_id = hazard_id or f"T-{uuid.uuid4().hex[:12]}"
    input = ReportHazardInput(hazard_id=hazard_id, actor=path.reporter, report=path.report(), version=WORKFLOW_VERSION)
    return await client.start_workflow(
        HazardWorkflow.run,
        input,
        id=workflow_id(hazard_id),
        search_attributes=input.search_attributes(),
        task_queue=task_queue,
        task_timeout=task_timeout,
    )


async def walk(handle: Handle, path: Path) -> list[ActionResult]:
    return [await handle.execute_update(step.update, step.input(), result_type=ActionResult) for step in path.steps]
