"""The hazard lifecycle as pure functions: which action is legal when, and what it changes.

Validators and handlers call the same `check`, so an action rejected before history is written is
rejected for the same reason as one that lost a race inside the workflow. The API calls `check_report`
before it starts a workflow. Nothing here does I/O or reads a clock: `now` is passed in.
"""

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel
from temporalio.exceptions import ApplicationError

from contracts.clock import china_date
from contracts.enums import Action, InterimControlKind, ReviewDecision, Source, Stage
from contracts.errors import ErrorType
from contracts.hazard import (
    Actor,
    HazardEvent,
    HazardRecord,
    HazardReport,
    HazardState,
    InterimControl,
    Plan,
    Rectification,
    ReviewOpinion,
    Revocation,
    Verification,
)
from contracts.policy import ACTION_ROLES, SOURCE_ROLES

OPEN_STAGES = frozenset(stage for stage in Stage if not stage.is_terminal)

STAGES_FOR: dict[Action, frozenset[Stage]] = {
    Action.VERIFY: frozenset({Stage.VERIFY}),
    Action.SUBMIT_PLAN: frozenset({Stage.PLAN}),
    # Further controls (a suspension ordered mid-way) may be added while rectifying.
    Action.CONFIRM_INTERIM_CONTROL: frozenset({Stage.INTERIM_CONTROL, Stage.RECTIFY}),
    Action.REPORT_RECTIFICATION: frozenset({Stage.RECTIFY}),
    Action.REVIEW: frozenset({Stage.REVIEW}),
    Action.REVOKE: OPEN_STAGES,
}

MAX_RECTIFICATION_DAYS = 365
# Clients' clocks drift; a report "found" a few minutes in the future is not an error.
CLOCK_SKEW = timedelta(minutes=5)


def rejected(error: ErrorType, message: str, **details: Any) -> ApplicationError:
    return ApplicationError(message, details, type=error.value, non_retryable=True)


def invalid(field: str, message: str) -> ApplicationError:
    return rejected(ErrorType.INVALID_PAYLOAD, message, field=field)


def check_report(report: HazardReport, actor: Actor, now: datetime) -> None:
    if actor.role not in ACTION_ROLES[Action.REPORT]:
        raise rejected(ErrorType.ROLE_FORBIDDEN, f"{actor.role.value} 角色不能上报隐患", role=actor.role.value)
    if actor.role not in SOURCE_ROLES[report.source]:
        raise invalid("source", "企业只能上报自查发现的隐患；检查发现和群众举报由街道或部门登记")
    if report.found_at > now + CLOCK_SKEW:
        raise invalid("found_at", "发现时间不能晚于当前时间")
    spot = report.rectified_on_spot
    if spot is not None:
        if report.source is Source.TIP_OFF:
            raise invalid("rectified_on_spot", "群众举报的隐患须先查实，不能立查立改直接销号")
        _check_completed_on(spot, report, now, field="rectified_on_spot.completed_on")


def initial_stage(report: HazardReport) -> Stage:
    if report.source is Source.TIP_OFF:
        return Stage.VERIFY
    if report.rectified_on_spot is not None:
        return Stage.REVIEW
    return Stage.PLAN


def open_hazard(hazard_id: str, report: HazardReport, actor: Actor, now: datetime) -> HazardRecord:
    stage = initial_stage(report)
    state = HazardState(
        hazard_id=hazard_id,
        report=report,
        reporter=actor,
        reported_at=now,
        updated_at=now,
        stage=stage,
        department=report.department,
    )
    if report.rectified_on_spot is not None:
        state.rectification = report.rectified_on_spot
        state.rectified_by = actor
    record = HazardRecord(state=state)
    _append_event(record, Action.REPORT, actor, now, None, report)
    return record


def check(state: HazardState, action: Action, actor: Actor, payload: BaseModel, now: datetime) -> None:
    """Raise the reason `action` is not allowed now; return quietly when it is."""
    if state.stage not in STAGES_FOR[action]:
        raise rejected(
            ErrorType.STAGE_CONFLICT,
            f"隐患当前处于「{state.stage.label}」阶段，不能执行此操作",
            stage=state.stage.value,
            action=action.value,
        )
    if actor.role not in ACTION_ROLES[action]:
        raise rejected(ErrorType.ROLE_FORBIDDEN, "当前角色无权执行此操作", role=actor.role.value)
    if isinstance(payload, Plan):
        _check_plan(payload, state, now)
    elif isinstance(payload, InterimControl):
        _check_interim_control(payload)
    elif isinstance(payload, Rectification):
        _check_completed_on(payload, state.report, now, field="completed_on")
    elif isinstance(payload, ReviewOpinion):
        _check_reviewer(state, actor)


def apply(record: HazardRecord, action: Action, actor: Actor, payload: BaseModel, now: datetime) -> HazardEvent:
    """Check, then change the state and append the event. Raises without changing anything."""
    state = record.state
    check(state, action, actor, payload, now)
    before = state.stage
    if isinstance(payload, Verification):
        state.verification = payload
        if payload.verified:
            state.stage = Stage.PLAN
        else:
            state.revocation = Revocation(reason=payload.opinion)
            state.stage = Stage.REVOKED
    elif isinstance(payload, Plan):
        state.plan = payload
        state.five_in_place = payload.five_in_place
        state.stage = Stage.INTERIM_CONTROL
    elif isinstance(payload, InterimControl):
        state.interim_controls.append(payload)
        state.stage = Stage.RECTIFY
    elif isinstance(payload, Rectification):
        state.rectification = payload
        state.rectified_by = actor
        state.stage = Stage.REVIEW
    elif isinstance(payload, ReviewOpinion):
        if payload.decision is ReviewDecision.APPROVE:
            state.stage = Stage.CLOSED
            state.closed_at = now
            state.closed_by = actor
        else:
            state.rejection_count += 1
            state.stage = Stage.RECTIFY
    elif isinstance(payload, Revocation):
        state.revocation = payload
        state.stage = Stage.REVOKED
    else:  # pragma: no cover - every payload model is handled above
        raise TypeError(f"no transition for {type(payload).__name__}")
    return _append_event(record, action, actor, now, before, payload)


def _append_event(
    record: HazardRecord,
    action: Action,
    actor: Actor,
    now: datetime,
    before: Stage | None,
    payload: BaseModel,
) -> HazardEvent:
    state = record.state
    event = HazardEvent(
        seq=state.version + 1,
        action=action,
        actor=actor,
        at=now,
        stage_before=before,
        stage_after=state.stage,
        payload=payload.model_dump(mode="json", exclude_none=True),
    )
    record.events.append(event)
    state.version = event.seq
    state.updated_at = now
    return event


def _check_plan(plan: Plan, state: HazardState, now: datetime) -> None:
    today = china_date(now)
    if plan.deadline <= today:
        raise invalid("deadline", "整改时限须晚于今天")
    latest = china_date(state.report.found_at) + timedelta(days=MAX_RECTIFICATION_DAYS)
    if plan.deadline > latest:
        raise invalid("deadline", f"整改时限不得超过发现之日起 {MAX_RECTIFICATION_DAYS} 日（{latest.isoformat()}）")


def _check_interim_control(control: InterimControl) -> None:
    if control.kind is InterimControlKind.SUSPENSION and not control.suspension_order_no:
        raise invalid("suspension_order_no", "责令停产整顿须填写指令文书编号")


def _check_completed_on(rectification: Rectification, report: HazardReport, now: datetime, *, field: str) -> None:
    if rectification.completed_on > china_date(now):
        raise invalid(field, "整改完成日期不能晚于今天")
    if rectification.completed_on < china_date(report.found_at):
        raise invalid(field, "整改完成日期不能早于隐患发现日期")


def _check_reviewer(state: HazardState, actor: Actor) -> None:
    if state.rectified_by is not None and state.rectified_by.id == actor.id:
        raise rejected(ErrorType.MAKER_CHECKER, "审核人不能是整改情况的报告人")
