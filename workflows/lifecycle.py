"""The hazard lifecycle as pure functions: which action is legal when, and what it changes.

Validators and handlers call the same `check`, so an action rejected before history is written is
rejected for the same reason as one that lost a race inside the workflow. The API calls `check_report`
before it starts a workflow. Nothing here does I/O or reads a clock: `now` is passed in.
"""

from datetime import date, datetime, timedelta
from typing import Any

from pydantic import BaseModel
from temporalio.exceptions import ApplicationError

from contracts.clock import EARLIEST_DAY, china_date, day_start
from contracts.deadlines import (
    STAGE_DEADLINES,
    Deadline,
    DeadlineKind,
    EscalationRecord,
    Owner,
    Rung,
    ScheduleDeadlineInput,
)
from contracts.enums import Action, InterimControlKind, PublicationOf, ReviewDecision, Role, Source, Stage
from contracts.errors import ErrorType
from contracts.hazard import (
    Actor,
    Delisting,
    Extension,
    ExtensionDecision,
    ExtensionRequest,
    HazardEvent,
    HazardRecord,
    HazardReport,
    HazardState,
    ImportedHazard,
    InterimControl,
    Listing,
    ListingOrder,
    Plan,
    Publication,
    Rectification,
    ReviewOpinion,
    Revocation,
    Transfer,
    Verification,
)
from contracts.jurisdiction import sees_state
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
    Action.REQUEST_EXTENSION: frozenset({Stage.PLAN, Stage.INTERIM_CONTROL, Stage.RECTIFY}),
    Action.DECIDE_EXTENSION: frozenset({Stage.PLAN, Stage.INTERIM_CONTROL, Stage.RECTIFY}),
    Action.LIST: OPEN_STAGES,
    # 摘牌 once the rectification is reported, and before the sign-off that needs it.
    Action.DELIST: frozenset({Stage.REVIEW}),
    # A delisting is published after closure, so publishing outlives the open stages.
    Action.PUBLISH: frozenset(Stage),
    Action.TRANSFER: OPEN_STAGES,
}

SYSTEM = Actor(id="system", name="系统自动督办", role=Role.COMMITTEE_OFFICE, organisation="xiaohao")

MAX_RECTIFICATION_DAYS = 365
# Clients' clocks drift; a report "found" a few minutes in the future is not an error.
CLOCK_SKEW = timedelta(minutes=5)
# No hazard this system takes was found before this instant (contracts.clock.EARLIEST_DAY).
EARLIEST_FOUND = day_start(EARLIEST_DAY)


def rejected(error: ErrorType, message: str, **details: Any) -> ApplicationError:
    return ApplicationError(message, details, type=error.value, non_retryable=True)


def invalid(field: str, message: str) -> ApplicationError:
    return rejected(ErrorType.INVALID_PAYLOAD, message, field=field)


def check_report(report: HazardReport, actor: Actor, now: datetime) -> None:
    if actor.role not in ACTION_ROLES[Action.REPORT]:
        raise rejected(ErrorType.ROLE_FORBIDDEN, f"{actor.role.value} 角色不能上报隐患", role=actor.role.value)
    if actor.role not in SOURCE_ROLES[report.source]:
        raise invalid("source", "企业只能上报自查发现的隐患；检查发现和群众举报由街道或部门登记")
    if actor.role is Role.ENTERPRISE and report.enterprise.credit_code != actor.credit_code:
        raise invalid("enterprise.credit_code", "企业只能上报本企业的隐患")
    if actor.role is Role.STREET and report.street != actor.street:
        raise invalid("street", "街道只能登记本辖区的隐患")
    if report.found_at > now + CLOCK_SKEW:
        raise invalid("found_at", "发现时间不能晚于当前时间")
    if report.found_at < EARLIEST_FOUND:
        raise invalid("found_at", f"发现时间不能早于 {EARLIEST_FOUND.year} 年")
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
    state.penalty_exempt = report.source is Source.SELF_INSPECTION
    record = HazardRecord(state=state)
    _append_event(record, Action.REPORT, actor, now, None, report)
    return record


# --- hazards carried over from an existing ledger (imports/) ---------------------------------------------------

# Who may import: the committee office anything, a department the rows of its own industries.
IMPORT_ROLES = frozenset({Role.COMMITTEE_OFFICE, Role.DEPARTMENT})


def import_problems(
    report: HazardReport, imported: ImportedHazard, actor: Actor, now: datetime
) -> list[tuple[str, str]]:
    """Every reason this ledger row cannot open a hazard in its recorded stage, as (field, message) pairs."""
    problems: list[tuple[str, str]] = []
    if report.found_at < EARLIEST_FOUND:
        # Checked before anything converts the date: year 1 in another time zone has no China date at all.
        return [("found_at", f"发现日期不能早于 {EARLIEST_FOUND.year} 年")]
    today = china_date(now)
    found = china_date(report.found_at)
    stage = imported.stage
    if actor.role not in IMPORT_ROLES:
        problems.append(("actor", f"{actor.role.value} 角色不能导入台账"))
    elif actor.role is Role.DEPARTMENT and report.industry not in actor.industries:
        problems.append(("industry", f"「{report.industry.value}」不在本部门监管的行业领域内"))
    if report.found_at > now + CLOCK_SKEW:
        problems.append(("found_at", "发现日期不能晚于今天"))
    if report.rectified_on_spot is not None:
        problems.append(("rectified_on_spot", "导入的隐患按台账记载的阶段建立，不能同时立查立改"))
    if stage is Stage.VERIFY and report.source is not Source.TIP_OFF:
        problems.append(("stage", "只有群众举报的隐患处于「查实」阶段"))
    if stage in (Stage.INTERIM_CONTROL, Stage.RECTIFY) and imported.plan is None:
        problems.append(
            ("plan", f"处于「{stage.label}」阶段的隐患须有整改方案（整改措施、整改责任人及电话、整改时限）")
        )
    if stage is Stage.INTERIM_CONTROL and imported.plan_submitted_on is None:
        problems.append(("plan_submitted_on", "处于「临时管控」阶段的隐患须填写方案提交日期"))
    if stage is Stage.REVIEW and imported.rectified_on is None:
        problems.append(("rectified_on", "处于「审核验收」阶段的隐患须填写整改完成日期"))
    if stage is Stage.CLOSED and imported.closed_on is None:
        problems.append(("closed_on", "已销号的隐患须填写销号日期"))
    if stage is not Stage.CLOSED and imported.closed_on is not None:
        problems.append(("closed_on", "未销号的隐患不应填写销号日期"))
    if stage is Stage.REVOKED and imported.revocation is None:
        problems.append(("revocation", "已撤销的隐患须写明撤销原因"))
    if imported.listing is not None and stage.is_terminal:
        problems.append(("listing", "已销号或已撤销的隐患不能处于挂牌督办状态（销号前须摘牌）"))
    for field, day in (
        ("plan_submitted_on", imported.plan_submitted_on),
        ("rectified_on", imported.rectified_on),
        ("closed_on", imported.closed_on),
        ("listed_on", imported.listed_on),
    ):
        if day is None:
            continue
        if day > today:
            problems.append((field, "日期不能晚于今天"))
        elif day < found:
            problems.append((field, "日期不能早于隐患发现日期"))
    if imported.interim_control is not None and _interim_control_problem(imported.interim_control):
        problems.append(("interim_control", "责令停产整顿须填写指令文书编号"))
    return problems


def check_import(report: HazardReport, imported: ImportedHazard, actor: Actor, now: datetime) -> None:
    """Raise the first reason the row cannot be imported; the importer reports them all (import_problems)."""
    problems = import_problems(report, imported, actor, now)
    if problems:
        raise invalid(*problems[0])


def open_imported(
    hazard_id: str, report: HazardReport, actor: Actor, imported: ImportedHazard, now: datetime
) -> HazardRecord:
    """A hazard in the stage its ledger row records, with that stage's data. Its first event is the report by
    the importing official, its payload marked `imported` (file, row, recorded stage and dates) for auditors."""
    stage = imported.stage
    state = HazardState(
        hazard_id=hazard_id,
        report=report,
        reporter=actor,
        reported_at=now,
        updated_at=now,
        stage=stage,
        department=report.department,
        # The plan and controls live where every reader finds them (and where phone numbers are masked).
        imported=imported.model_copy(update={"plan": None, "interim_control": None}),
    )
    if imported.plan is not None:
        state.plan = imported.plan
        state.five_in_place = imported.plan.five_in_place
    else:
        state.five_in_place = imported.five_in_place
    if imported.interim_control is not None:
        state.interim_controls.append(imported.interim_control)
    if imported.closed_on is not None and stage is Stage.CLOSED:
        state.closed_at = day_start(imported.closed_on)
    if imported.revocation is not None and stage is Stage.REVOKED:
        state.revocation = imported.revocation
    if imported.listing is not None:
        listed_on = imported.listed_on or china_date(now)
        state.listing = Listing(
            order=imported.listing, automatic=False, listed_at=day_start(listed_on), listed_by=actor
        )
    # Exempt while on schedule: the run clears it when the recorded deadline has already passed.
    state.penalty_exempt = report.source is Source.SELF_INSPECTION and not stage.is_terminal
    record = HazardRecord(state=state)
    event = _append_event(record, Action.REPORT, actor, now, None, report)
    event.payload["imported"] = imported.model_dump(mode="json", exclude_none=True)
    return record


def imported_at(state: HazardState) -> datetime | None:
    """The moment an imported hazard entered this system; None for a hazard reported here."""
    return state.reported_at if state.imported is not None else None


def imported_clock(state: HazardState) -> tuple[datetime, date | None]:
    """When the recorded stage's clock started, and its fixed due date if it has one, from the ledger's dates:
    verification and plan from the found date, interim controls from the plan's date, rectification on the
    plan's 整改时限, review from the completion date."""
    imported = state.imported
    assert imported is not None
    found = state.report.found_at
    match state.stage:
        case Stage.INTERIM_CONTROL if imported.plan_submitted_on is not None:
            return day_start(imported.plan_submitted_on), None
        case Stage.RECTIFY:
            return found, state.plan.deadline if state.plan is not None else imported.rectify_deadline
        case Stage.REVIEW if imported.rectified_on is not None:
            return day_start(imported.rectified_on), None
        case _:
            return found, None


def imported_schedule(state: HazardState) -> ScheduleDeadlineInput | None:
    """What counting an imported hazard's first deadline asks for: its recorded stage's deadline, on the clock of
    the ledger's dates (imported_clock). None for a stage without a deadline."""
    kind = STAGE_DEADLINES.get(state.stage)
    if kind is None:
        return None
    start, due_date = imported_clock(state)
    return deadline_schedule(state, kind, start, due_date)


def deadline_schedule(
    state: HazardState, kind: DeadlineKind, start: datetime, due_date: date | None = None
) -> ScheduleDeadlineInput:
    """What counting a deadline of `kind` asks for, under the rules the hazard follows."""
    if state.rules is None:
        raise ValueError(f"{state.hazard_id} has no policy rules to count {kind.value} by")
    return ScheduleDeadlineInput(
        hazard_id=state.hazard_id, deadline_id=kind.value, kind=kind, start=start, due_date=due_date, rules=state.rules
    )


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
        if payload.decision is ReviewDecision.APPROVE and is_listed(state):
            raise rejected(
                ErrorType.LISTING_ACTIVE, "该隐患已挂牌督办，须由区安委办摘牌后方可销号", stage=state.stage.value
            )
    elif isinstance(payload, ExtensionRequest):
        _check_extension_request(payload, state, now)
    elif isinstance(payload, ExtensionDecision):
        pending = _pending_extension(state)
        if pending is None:
            raise conflict(state, "没有待审批的延期申请")
        if pending.requested_by.id == actor.id:
            raise rejected(ErrorType.MAKER_CHECKER, "不能审批本人提出的延期申请")
    elif isinstance(payload, ListingOrder):
        if is_listed(state):
            raise conflict(state, "该隐患已挂牌督办")
    elif isinstance(payload, Delisting):
        if not is_listed(state):
            raise conflict(state, "该隐患未挂牌督办，无需摘牌")
    elif isinstance(payload, Publication):
        _check_publication(payload, state, now)
    elif isinstance(payload, Transfer):
        if actor.role is Role.DEPARTMENT and actor.organisation != state.department:
            raise rejected(ErrorType.ROLE_FORBIDDEN, "只有当前负责的行业部门或区安委办可以移送")
        if payload.to_department == state.department:
            raise invalid("to_department", "移送对象不能是当前负责部门")


def check_jurisdiction(state: HazardState, actor: Actor) -> None:
    """Validators only: histories recorded before jurisdiction claims existed must replay unjudged."""
    if not sees_state(actor, state):
        raise rejected(ErrorType.OUT_OF_JURISDICTION, "未找到该隐患")


def conflict(state: HazardState, message: str) -> ApplicationError:
    return rejected(ErrorType.STAGE_CONFLICT, message, stage=state.stage.value)


def is_listed(state: HazardState) -> bool:
    return state.listing is not None and state.listing.delisted_at is None


def _pending_extension(state: HazardState) -> Extension | None:
    return next((e for e in state.extensions if e.decision is None and e.lapsed_at is None), None)


def _stage_deadline(state: HazardState) -> Deadline | None:
    kind = STAGE_DEADLINES.get(state.stage)
    return next((d for d in state.deadlines if d.kind == kind), None)


def _check_extension_request(request: ExtensionRequest, state: HazardState, now: datetime) -> None:
    current = _stage_deadline(state)
    if current is None or current.owner is not Owner.ENTERPRISE:
        raise conflict(state, "当前阶段没有可申请延期的期限")
    if _pending_extension(state) is not None:
        raise conflict(state, "已有延期申请待审批")
    allowed = state.rules.extension_max if state.rules else 0
    if len(state.extensions) >= allowed:
        raise conflict(state, f"每个隐患最多申请延期 {allowed} 次")
    if current.extension_cutoff is not None and now > current.extension_cutoff:
        cutoff = china_date(current.extension_cutoff).isoformat()
        raise conflict(state, f"延期须在期限届满前提出（最迟 {cutoff}）")
    if request.new_due_date <= current.due_date:
        raise invalid("new_due_date", f"延期后的期限须晚于当前期限 {current.due_date.isoformat()}")
    max_days = state.rules.rectify_max_days if state.rules else MAX_RECTIFICATION_DAYS
    latest = china_date(state.report.found_at) + timedelta(days=max_days)
    if request.new_due_date > latest:
        raise invalid("new_due_date", f"整改期限不得超过发现之日起 {max_days} 日（{latest.isoformat()}）")


def _check_publication(publication: Publication, state: HazardState, now: datetime) -> None:
    kind = (
        DeadlineKind.LISTING_PUBLICATION
        if publication.of is PublicationOf.LISTING
        else DeadlineKind.DELISTING_PUBLICATION
    )
    if not any(d.kind == kind for d in state.deadlines):
        raise conflict(state, "没有待公示的挂牌或摘牌")
    if publication.published_on > china_date(now):
        raise invalid("published_on", "公示日期不能晚于今天")


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
            # A rejected 立查立改 has no plan to rectify against: the enterprise now owes a proper one (五到位).
            state.stage = Stage.RECTIFY if state.plan is not None else Stage.PLAN
    elif isinstance(payload, Revocation):
        state.revocation = payload
        state.stage = Stage.REVOKED
    elif isinstance(payload, ExtensionRequest):
        current = _stage_deadline(state)
        assert current is not None  # check() made sure
        state.extensions.append(
            Extension(
                seq=len(state.extensions) + 1,
                deadline_id=current.id,
                deadline_kind=current.kind,
                request=payload,
                requested_by=actor,
                requested_at=now,
            )
        )
    elif isinstance(payload, ExtensionDecision):
        pending = _pending_extension(state)
        assert pending is not None
        pending.decision, pending.decided_by, pending.decided_at = payload, actor, now
    elif isinstance(payload, ListingOrder):
        state.listing = Listing(order=payload, automatic=actor is SYSTEM, listed_at=now, listed_by=actor)
    elif isinstance(payload, Delisting):
        assert state.listing is not None
        state.listing.delisting, state.listing.delisted_at, state.listing.delisted_by = payload, now, actor
    elif isinstance(payload, Transfer):
        state.department = payload.to_department
        state.transferred = True
    elif isinstance(payload, Publication):
        assert state.listing is not None
        if payload.of is PublicationOf.LISTING:
            state.listing.published_on = payload.published_on
        else:
            state.listing.delisting_published_on = payload.published_on
    else:  # pragma: no cover - every payload model is handled above
        raise TypeError(f"no transition for {type(payload).__name__}")
    if record.extensions_lapse and state.stage is not before:
        _lapse_extensions(state, now)
    return _append_event(record, action, actor, now, before, payload)


def _lapse_extensions(state: HazardState, now: datetime) -> None:
    """An extension asks to move its stage's deadline: once the stage is done, a decision on it would re-arm a
    deadline already met (and climb its ladder), so it lapses undecided and blocks no new request."""
    for extension in state.extensions:
        if extension.decision is None and extension.lapsed_at is None:
            extension.lapsed_at = now


def record_escalation(record: HazardRecord, escalation: EscalationRecord, now: datetime) -> HazardEvent:
    """The service's own action: a rung fired. Kept in history beside people's actions."""
    state = record.state
    state.escalations.append(escalation)
    if escalation.rung is Rung.NOTICE_LETTER and escalation.target.kind is Owner.ENTERPRISE:
        # 不予行政处罚 holds only while the enterprise is on schedule: the first 函告 ends it.
        state.penalty_exempt = False
    return _append_event(record, Action.ESCALATE, SYSTEM, now, state.stage, escalation)


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


def _interim_control_problem(control: InterimControl) -> bool:
    return control.kind is InterimControlKind.SUSPENSION and not control.suspension_order_no


def _check_interim_control(control: InterimControl) -> None:
    if _interim_control_problem(control):
        raise invalid("suspension_order_no", "责令停产整顿须填写指令文书编号")


def _check_completed_on(rectification: Rectification, report: HazardReport, now: datetime, *, field: str) -> None:
    if rectification.completed_on > china_date(now):
        raise invalid(field, "整改完成日期不能晚于今天")
    if rectification.completed_on < china_date(report.found_at):
        raise invalid(field, "整改完成日期不能早于隐患发现日期")


def _check_reviewer(state: HazardState, actor: Actor) -> None:
    if state.rectified_by is not None and state.rectified_by.id == actor.id:
        raise rejected(ErrorType.MAKER_CHECKER, "审核人不能是整改情况的报告人")
