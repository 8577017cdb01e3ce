"""The audit trail, for auditors: search it, verify it, and read a hazard's whole history.

Auditors and the committee office search the trail and read histories; only auditors run the verification.
"""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import AwareDatetime, BaseModel
from sqlalchemy import Engine
from sqlmodel import Session
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from api.deps import EngineDep, Offset, TemporalDep, role_in
from api.errors import not_found
from audit import store as audit_store
from audit.chain import VerifyResult
from audit.store import AuditFilter, AuditStore
from contracts.enums import Role
from contracts.hazard import Actor, workflow_id
from readmodel import queries
from readmodel.audit_models import AuditRecordPublic, AuditRecordsPublic
from readmodel.models import HazardEventPublic

router = APIRouter(prefix="/audit", tags=["audit"])

EVENT_TYPE_PREFIX = "EVENT_TYPE_"


Auditor = Annotated[Actor, Depends(role_in({Role.AUDITOR}))]
TrailReader = Annotated[Actor, Depends(role_in({Role.AUDITOR, Role.COMMITTEE_OFFICE}))]


def get_audit_store(request: Request) -> AuditStore:
    store: AuditStore = request.app.state.audit
    return store


AuditStoreDep = Annotated[AuditStore, Depends(get_audit_store)]


@router.get("/records", summary="检索审计记录 (search the trail, newest first)", responses={403: {}})
def records(
    engine: EngineDep,
    actor: TrailReader,
    actor_id: str | None = None,
    organisation: str | None = None,
    action: Annotated[str | None, Query(description="endpoint name, e.g. review, hazard_events")] = None,
    object_id: Annotated[str | None, Query(alias="object", description="hazard id (or other object id)")] = None,
    outcome: Annotated[str | None, Query(pattern="^(accepted|denied|error)$")] = None,
    since: Annotated[AwareDatetime | None, Query(description="from this time (inclusive)")] = None,
    until: Annotated[AwareDatetime | None, Query(description="before this time")] = None,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AuditRecordsPublic:
    where = AuditFilter(
        actor_id=actor_id,
        organisation=organisation,
        action=action,
        object_id=object_id,
        outcome=outcome,
        since=since,
        until=until,
    )
    with Session(engine) as session:
        return audit_store.search(session=session, where=where, offset=offset, limit=limit)


@router.get(
    "/verify",
    summary="核验审计链 (walk the hash chain and the checkpoints; name the first bad record)",
    responses={403: {}},
)
def verify(actor: Auditor, store: AuditStoreDep) -> VerifyResult:
    return store.verify()


class TemporalEvent(BaseModel):
    run_id: str
    event_id: int
    event_time: datetime
    event_type: str
    # The update, signal, activity or timer the event is about, when it is about one.
    name: str | None = None
    update_id: str | None = None


class HazardHistory(BaseModel):
    hazard_id: str
    workflow_id: str
    exported_at: datetime
    domain_events: list[HazardEventPublic]
    temporal_history: list[TemporalEvent]
    audit_records: list[AuditRecordPublic]


@router.get(
    "/hazards/{hazard_id}/history",
    summary="隐患完整历史 (domain events beside the Temporal history, and the audit records; JSON export)",
    responses={403: {}, 404: {"description": "neither the read model nor Temporal knows this hazard"}},
)
async def hazard_history(
    hazard_id: str,
    actor: TrailReader,
    engine: EngineDep,
    temporal: TemporalDep,
    response: Response,
    download: Annotated[bool, Query(description="answer as a file to save")] = False,
) -> HazardHistory:
    known, events, audited = await run_in_threadpool(_read_model_side, engine, hazard_id)
    temporal_events = await _temporal_side(temporal, workflow_id(hazard_id))
    if not known and temporal_events is None:
        raise not_found(hazard_id)
    if download:
        response.headers["Content-Disposition"] = f'attachment; filename="hazard-{hazard_id}-history.json"'
    return HazardHistory(
        hazard_id=hazard_id,
        workflow_id=workflow_id(hazard_id),
        exported_at=datetime.now(UTC),
        domain_events=events,
        temporal_history=temporal_events or [],
        audit_records=audited,
    )


def _read_model_side(engine: Engine, hazard_id: str) -> tuple[bool, list[HazardEventPublic], list[AuditRecordPublic]]:
    with Session(engine) as session:
        return (
            queries.hazard_exists(session=session, hazard_id=hazard_id),
            queries.hazard_events(session=session, hazard_id=hazard_id).data,
            audit_store.records_about(session=session, object_id=hazard_id),
        )


async def _temporal_side(temporal: Client, workflow: str) -> list[TemporalEvent] | None:
    """Every run of the workflow, oldest first (a run continued as new names the run before); None if none."""
    try:
        run_id = (await temporal.get_workflow_handle(workflow).describe()).run_id
    except RPCError as err:
        if err.status is RPCStatusCode.NOT_FOUND:
            return None
        raise
    runs: list[list[TemporalEvent]] = []
    while run_id:
        history = await temporal.get_workflow_handle(workflow, run_id=run_id).fetch_history()
        runs.append([_temporal_event(run_id, event) for event in history.events])
        run_id = history.events[0].workflow_execution_started_event_attributes.continued_execution_run_id
    return [event for run in reversed(runs) for event in run]


def _temporal_event(run_id: str, event: HistoryEvent) -> TemporalEvent:
    name: str | None = None
    update_id: str | None = None
    kind = event.WhichOneof("attributes")
    if kind == "workflow_execution_started_event_attributes":
        name = event.workflow_execution_started_event_attributes.workflow_type.name
    elif kind == "workflow_execution_update_admitted_event_attributes":
        admitted = event.workflow_execution_update_admitted_event_attributes.request
        name, update_id = admitted.input.name, admitted.meta.update_id
    elif kind == "workflow_execution_update_accepted_event_attributes":
        accepted = event.workflow_execution_update_accepted_event_attributes.accepted_request
        name, update_id = accepted.input.name, accepted.meta.update_id
    elif kind == "workflow_execution_update_completed_event_attributes":
        update_id = event.workflow_execution_update_completed_event_attributes.meta.update_id
    elif kind == "workflow_execution_signaled_event_attributes":
        name = event.workflow_execution_signaled_event_attributes.signal_name
    elif kind == "activity_task_scheduled_event_attributes":
        name = event.activity_task_scheduled_event_attributes.activity_type.name
    elif kind == "timer_started_event_attributes":
        name = event.timer_started_event_attributes.timer_id
    return TemporalEvent(
        run_id=run_id,
        event_id=event.event_id,
        event_time=event.event_time.ToDatetime(tzinfo=UTC),
        event_type=EventType.Name(event.event_type).removeprefix(EVENT_TYPE_PREFIX),
        name=name,
        update_id=update_id,
    )
