"""Hazards: report, act on, read. Temporal answers for one hazard's state; the read model answers lists."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel
from sqlalchemy import Engine
from sqlmodel import Session
from temporalio.client import WithStartWorkflowOperation, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api.deps import (
    CurrentActor,
    EngineDep,
    HazardFilterDep,
    IdempotencyKey,
    Offset,
    SettingsDep,
    TemporalDep,
)
from api.errors import Problem, from_application_error, not_found
from api.jurisdiction import for_reader, require_sees, require_visible
from contracts.clock import CHINA_TZ
from contracts.deadlines import HazardPolicy
from contracts.enums import Action, Industry
from contracts.errors import ErrorType
from contracts.hazard import (
    TASK_QUEUE,
    WORKFLOW_VERSION,
    ActionResult,
    Actor,
    ConfirmInterimControlInput,
    DecideExtensionInput,
    Delisting,
    DelistInput,
    ExtensionDecision,
    ExtensionRequest,
    HazardReport,
    HazardState,
    InterimControl,
    ListingOrder,
    ListInput,
    Plan,
    Publication,
    PublishInput,
    Rectification,
    ReportHazardInput,
    ReportRectificationInput,
    RequestExtensionInput,
    ReviewInput,
    ReviewOpinion,
    Revocation,
    RevokeInput,
    SubmitPlanInput,
    Transfer,
    TransferInput,
    Verification,
    VerifyInput,
    workflow_id,
)
from contracts.policy import may
from infra.logging import bind_log_context
from infra.queries import answered
from readmodel import admin_queries, queries
from readmodel.models import HazardEventsPublic, HazardsPublic
from workflows import lifecycle
from workflows.hazard import HazardWorkflow

router = APIRouter(prefix="/hazards", tags=["hazards"])

Handle = WorkflowHandle[HazardWorkflow, HazardState]
HazardId = Annotated[str, "hazard id, e.g. 120104-2026-00042"]

ACTION_RESPONSES: dict[int | str, dict[str, str]] = {
    403: {"description": "this role may not take this action"},
    404: {"description": "no such hazard"},
    409: {"description": "not allowed in the hazard's current stage (the body names the stage)"},
    422: {"description": "invalid or incomplete data (each bad field named)"},
}


def require(actor: Actor, action: Action) -> None:
    """The API's copy of the workflow's role check, from the same table, so a forbidden call costs no RPC."""
    if not may(actor.role, action):
        raise Problem(403, "RoleForbidden", f"「{actor.role.value}」角色无权执行此操作")


def handle_for(temporal: TemporalDep, hazard_id: str) -> Handle:
    return temporal.get_workflow_handle_for(HazardWorkflow.run, workflow_id(hazard_id))


async def current_state(handle: Handle, hazard_id: str) -> HazardState:
    try:
        return await answered(lambda: handle.query(HazardWorkflow.get_state))
    except RPCError as err:
        if err.status is RPCStatusCode.NOT_FOUND:
            raise not_found(hazard_id) from err
        raise


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="上报隐患 (report a hazard; starts its workflow)",
    responses={200: {"description": "the hazard this Idempotency-Key already reported"}, **ACTION_RESPONSES},
)
async def report_hazard(
    report: HazardReport,
    actor: CurrentActor,
    temporal: TemporalDep,
    engine: EngineDep,
    settings: SettingsDep,
    response: Response,
    request_id: IdempotencyKey,
) -> HazardState:
    require(actor, Action.REPORT)
    now = datetime.now(CHINA_TZ)
    try:
        lifecycle.check_report(report, actor, now)
    except ApplicationError as err:
        raise from_application_error(err) from err
    allocation, policy = await run_in_threadpool(
        _id_and_policy, engine, settings.district_code, now, request_id, report.industry
    )
    # The id exists only from here: the rest of this request's lines (and its access line) carry it.
    bind_log_context(hazard_id=allocation.hazard_id)
    input = ReportHazardInput(
        hazard_id=allocation.hazard_id, actor=actor, report=report, policy=policy, version=WORKFLOW_VERSION
    )
    opening = WithStartWorkflowOperation(
        HazardWorkflow.run,
        input,
        id=workflow_id(allocation.hazard_id),
        search_attributes=input.search_attributes(),
        task_queue=TASK_QUEUE,
        # A retry whose first attempt already started the workflow finds that workflow, not a second one;
        # and a hazard already closed or revoked is never started again under its id.
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
    )
    if allocation.existing:
        response.status_code = status.HTTP_200_OK
    try:
        state: HazardState = await temporal.execute_update_with_start_workflow(
            HazardWorkflow.opened, start_workflow_operation=opening
        )
    except WorkflowAlreadyStartedError:
        # Started and already finished: the retry answers with what it became.
        state = await current_state(handle_for(temporal, allocation.hazard_id), allocation.hazard_id)
    # A key reused by someone else must not hand them another's hazard.
    require_sees(actor, state)
    return for_reader(actor, state)


def _id_and_policy(
    engine: Engine, district: str, now: datetime, request_id: str | None, industry: Industry
) -> tuple[queries.Allocation, HazardPolicy]:
    """The hazard's id, and the policy it will follow: the one in force now."""
    with Session(engine) as session:
        allocation = queries.allocate_hazard_id(session=session, district=district, now=now, request_id=request_id)
        return allocation, admin_queries.current_policy(session=session).for_hazard(industry)


async def act(
    temporal: TemporalDep, hazard_id: str, actor: Actor, update: str, input: BaseModel, key: str | None
) -> ActionResult:
    handle = handle_for(temporal, hazard_id)
    try:
        result: ActionResult = await handle.execute_update(update, input, id=key, result_type=ActionResult)
        return result
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        if isinstance(cause, ApplicationError) and cause.type == ErrorType.OUT_OF_JURISDICTION.value:
            raise not_found(hazard_id) from err
        raise
    except RPCError as err:
        if err.status is not RPCStatusCode.NOT_FOUND:
            raise
        # Either no such hazard, or its workflow has finished (closed, revoked): the state tells which.
        state = await current_state(handle, hazard_id)
        require_sees(actor, state)
        raise Problem(
            409,
            "StageConflict",
            f"隐患当前处于「{state.stage.label}」阶段，不能执行此操作",
            stage=state.stage.value,
        ) from err


@router.post("/{hazard_id}/verify", summary="查实举报 (verify a tip-off)", responses=ACTION_RESPONSES)
async def verify(
    hazard_id: HazardId, body: Verification, actor: CurrentActor, temporal: TemporalDep, key: IdempotencyKey
) -> ActionResult:
    require(actor, Action.VERIFY)
    return await act(temporal, hazard_id, actor, "verify", VerifyInput(actor=actor, verification=body), key)


@router.post("/{hazard_id}/plan", summary="提交整改方案 (submit the plan, 五到位)", responses=ACTION_RESPONSES)
async def submit_plan(
    hazard_id: HazardId, body: Plan, actor: CurrentActor, temporal: TemporalDep, key: IdempotencyKey
) -> ActionResult:
    require(actor, Action.SUBMIT_PLAN)
    return await act(temporal, hazard_id, actor, "submit_plan", SubmitPlanInput(actor=actor, plan=body), key)


@router.post(
    "/{hazard_id}/interim-controls",
    summary="确认临时管控措施 (confirm interim controls; a suspension needs its order number)",
    responses=ACTION_RESPONSES,
)
async def confirm_interim_control(
    hazard_id: HazardId, body: InterimControl, actor: CurrentActor, temporal: TemporalDep, key: IdempotencyKey
) -> ActionResult:
    require(actor, Action.CONFIRM_INTERIM_CONTROL)
    payload = ConfirmInterimControlInput(actor=actor, control=body)
    return await act(temporal, hazard_id, actor, "confirm_interim_control", payload, key)


@router.post("/{hazard_id}/rectification", summary="报告整改完成 (report rectification)", responses=ACTION_RESPONSES)
async def report_rectification(
    hazard_id: HazardId, body: Rectification, actor: CurrentActor, temporal: TemporalDep, key: IdempotencyKey
) -> ActionResult:
    require(actor, Action.REPORT_RECTIFICATION)
    payload = ReportRectificationInput(actor=actor, rectification=body)
    return await act(temporal, hazard_id, actor, "report_rectification", payload, key)


@router.post(
    "/{hazard_id}/review", summary="审核验收：销号或不予通过 (review: close or reject)", responses=ACTION_RESPONSES
)
async def review(
    hazard_id: HazardId, body: ReviewOpinion, actor: CurrentActor, temporal: TemporalDep, key: IdempotencyKey
) -> ActionResult:
    require(actor, Action.REVIEW)
    return await act(temporal, hazard_id, actor, "review", ReviewInput(actor=actor, review=body), key)


@router.post("/{hazard_id}/revoke", summary="撤销 (revoke, with a reason)", responses=ACTION_RESPONSES)
async def revoke(
    hazard_id: HazardId, body: Revocation, actor: CurrentActor, temporal: TemporalDep, key: IdempotencyKey
) -> ActionResult:
    require(actor, Action.REVOKE)
    return await act(temporal, hazard_id, actor, "revoke", RevokeInput(actor=actor, revocation=body), key)


@router.post(
    "/{hazard_id}/extensions",
    summary="申请延期 (ask to move the current stage's deadline; at least N working days before it)",
    responses=ACTION_RESPONSES,
)
async def request_extension(
    hazard_id: HazardId, body: ExtensionRequest, actor: CurrentActor, temporal: TemporalDep, key: IdempotencyKey
) -> ActionResult:
    require(actor, Action.REQUEST_EXTENSION)
    payload = RequestExtensionInput(actor=actor, request=body)
    return await act(temporal, hazard_id, actor, "request_extension", payload, key)


@router.post(
    "/{hazard_id}/extensions/decision",
    summary="审批延期 (approve or reject the pending extension)",
    responses=ACTION_RESPONSES,
)
async def decide_extension(
    hazard_id: HazardId, body: ExtensionDecision, actor: CurrentActor, temporal: TemporalDep, key: IdempotencyKey
) -> ActionResult:
    require(actor, Action.DECIDE_EXTENSION)
    payload = DecideExtensionInput(actor=actor, decision=body)
    return await act(temporal, hazard_id, actor, "decide_extension", payload, key)


@router.post("/{hazard_id}/listing", summary="挂牌督办 (list by hand, with 督办文号)", responses=ACTION_RESPONSES)
async def list_hazard(
    hazard_id: HazardId, body: ListingOrder, actor: CurrentActor, temporal: TemporalDep, key: IdempotencyKey
) -> ActionResult:
    require(actor, Action.LIST)
    return await act(temporal, hazard_id, actor, "list_hazard", ListInput(actor=actor, order=body), key)


@router.post("/{hazard_id}/delisting", summary="摘牌 (before sign-off of a listed hazard)", responses=ACTION_RESPONSES)
async def delist(
    hazard_id: HazardId, body: Delisting, actor: CurrentActor, temporal: TemporalDep, key: IdempotencyKey
) -> ActionResult:
    require(actor, Action.DELIST)
    return await act(temporal, hazard_id, actor, "delist", DelistInput(actor=actor, delisting=body), key)


@router.post(
    "/{hazard_id}/publication",
    summary="公示 (record the publication of a listing or delisting)",
    responses=ACTION_RESPONSES,
)
async def publish(
    hazard_id: HazardId, body: Publication, actor: CurrentActor, temporal: TemporalDep, key: IdempotencyKey
) -> ActionResult:
    require(actor, Action.PUBLISH)
    payload = PublishInput(actor=actor, publication=body)
    return await act(temporal, hazard_id, actor, "publish", payload, key)


@router.post(
    "/{hazard_id}/transfer",
    summary="移送 (hand the hazard to another department: its current one or the committee office)",
    responses=ACTION_RESPONSES,
)
async def transfer(
    hazard_id: HazardId, body: Transfer, actor: CurrentActor, temporal: TemporalDep, key: IdempotencyKey
) -> ActionResult:
    require(actor, Action.TRANSFER)
    return await act(temporal, hazard_id, actor, "transfer", TransferInput(actor=actor, transfer=body), key)


@router.get("/{hazard_id}", summary="隐患当前状态 (current state, from the workflow)", responses={404: {}})
async def get_hazard(hazard_id: HazardId, actor: CurrentActor, temporal: TemporalDep) -> HazardState:
    state = await current_state(handle_for(temporal, hazard_id), hazard_id)
    require_sees(actor, state)
    return for_reader(actor, state)


@router.get("", summary="隐患列表 (list, from the read model)")
def list_hazards(
    engine: EngineDep,
    actor: CurrentActor,
    where: HazardFilterDep,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> HazardsPublic:
    now = datetime.now(CHINA_TZ)
    with Session(engine) as session:
        return queries.list_hazards(session=session, actor=actor, where=where, now=now, offset=offset, limit=limit)


@router.get("/{hazard_id}/events", summary="隐患事件历史 (who did what, in order)", responses={404: {}})
def hazard_events(hazard_id: HazardId, engine: EngineDep, actor: CurrentActor) -> HazardEventsPublic:
    with Session(engine) as session:
        require_visible(actor, hazard_id, session)
        return queries.hazard_events(session=session, hazard_id=hazard_id)
