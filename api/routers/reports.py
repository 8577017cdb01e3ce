"""Periodic reports (定期报表): the snapshots the schedules took, their files, and regeneration as of a past day.

Snapshots are immutable: nothing here updates or deletes one (the database refuses to), and a file is served only
after its bytes have been checked against the SHA-256 recorded when it was taken.
"""

import asyncio
from datetime import datetime, timedelta
from typing import Annotated
from urllib.parse import quote

import structlog
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from sqlalchemy import Engine
from sqlmodel import Session, col, func, select
from starlette.background import BackgroundTask
from temporalio.client import WorkflowFailureError
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ActivityError, ApplicationError

from activities.reports import report_store
from api.deps import Day, EngineDep, Offset, RowId, SettingsDep, TemporalDep, role_in
from api.errors import Problem, from_application_error
from contracts.base import Model
from contracts.clock import CHINA_TZ, china_date
from contracts.hazard import Actor
from contracts.reports import (
    REPORT_READERS,
    REPORT_REGENERATORS,
    REPORT_TASK_QUEUE,
    REPORT_WORKFLOW,
    GeneratedReport,
    ReportInput,
    ReportKind,
    ReportTrigger,
    regeneration_workflow_id,
)
from evidence import EvidenceCorrupted, EvidenceNotFound, EvidenceStore
from ledgers.xlsx import MEDIA_TYPE
from readmodel.models import ReportSnapshot, ReportSnapshotPublic, ReportSnapshotsPublic

log = structlog.get_logger("api.reports")

router = APIRouter(prefix="/reports", tags=["reports"])

# How long a regeneration request waits for its report; past that the report is still taken, and listed.
REGENERATION_WAIT = timedelta(minutes=2)
REGENERATION_TIMEOUT = timedelta(minutes=30)


Reader = Annotated[Actor, Depends(role_in(REPORT_READERS, "查看定期报表"))]
Regenerator = Annotated[Actor, Depends(role_in(REPORT_REGENERATORS, "重新生成报表"))]


def get_report_store(request: Request, settings: SettingsDep) -> EvidenceStore:
    # Opened on first use and kept for the app's life, as the worker keeps its own (activities.reports).
    store: EvidenceStore | None = getattr(request.app.state, "report_store", None)
    if store is None:
        store = request.app.state.report_store = report_store(settings)
    return store


ReportStoreDep = Annotated[EvidenceStore, Depends(get_report_store)]


def report_not_found(snapshot_id: int) -> Problem:
    return Problem(404, "ReportNotFound", f"未找到编号为 {snapshot_id} 的报表", title="报表不存在")


@router.get("", summary="定期报表列表 (snapshots, newest first)", responses={403: {"description": "enterprises"}})
def list_reports(
    engine: EngineDep,
    actor: Reader,
    kind: ReportKind | None = None,
    trigger: ReportTrigger | None = None,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ReportSnapshotsPublic:
    with Session(engine) as session:
        conditions = []
        if kind is not None:
            conditions.append(col(ReportSnapshot.kind) == kind)
        if trigger is not None:
            conditions.append(col(ReportSnapshot.trigger) == trigger)
        count = session.exec(select(func.count()).select_from(ReportSnapshot).where(*conditions)).one()
        rows = session.exec(
            select(ReportSnapshot)
            .where(*conditions)
            .order_by(col(ReportSnapshot.generated_at).desc(), col(ReportSnapshot.id).desc())
            .offset(offset)
            .limit(limit)
        ).all()
        return ReportSnapshotsPublic(data=[ReportSnapshotPublic.model_validate(row) for row in rows], count=count)


@router.get(
    "/{snapshot_id}.xlsx",
    summary="下载报表 (the file as taken; checked against its SHA-256 first)",
    response_class=StreamingResponse,
    responses={
        200: {"content": {MEDIA_TYPE: {}}, "description": "the workbook, streamed"},
        403: {"description": "enterprises"},
        404: {"description": "no such snapshot"},
        500: {"description": "ReportCorrupted: the stored bytes no longer match their hash (nothing is sent)"},
    },
)
async def download_report(
    snapshot_id: RowId, engine: EngineDep, actor: Reader, store: ReportStoreDep
) -> StreamingResponse:
    snapshot = await run_in_threadpool(snapshot_of, engine, snapshot_id)
    if snapshot is None:
        raise report_not_found(snapshot_id)
    try:
        opened = await run_in_threadpool(store.open, snapshot.sha256)
    except (EvidenceNotFound, EvidenceCorrupted) as err:
        log.error("report file missing or corrupted", snapshot_id=snapshot_id, sha256=snapshot.sha256, error=str(err))
        raise Problem(
            500, "ReportCorrupted", "报表文件校验失败，可能已丢失或损坏，请联系运维人员", title="报表文件已损坏"
        ) from err
    return StreamingResponse(
        opened.chunks(),
        media_type=MEDIA_TYPE,
        headers={
            "Content-Length": str(opened.file.size),
            "Content-Disposition": content_disposition(snapshot),
            "ETag": f'"{snapshot.sha256}"',
            "Cache-Control": "private",
        },
        background=BackgroundTask(opened.close),
    )


def snapshot_of(engine: Engine, snapshot_id: int) -> ReportSnapshot | None:
    """Off the event loop, and with its connection given back before the answer goes out (api.deps.EngineDep)."""
    with Session(engine) as session:
        return session.get(ReportSnapshot, snapshot_id)


def content_disposition(snapshot: ReportSnapshot) -> str:
    # The plain name is an ASCII stand-in for old clients; filename* carries the real, Chinese one.
    fallback = f"report-{snapshot.id}.xlsx"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(snapshot.filename, safe='')}"


class RegenerateRequest(Model):
    kind: ReportKind
    as_of: Day


@router.post(
    "/regenerate",
    summary="重新生成报表 (as of a past day, or today so far; never replaces a scheduled snapshot)",
    responses={
        200: {"description": "this report had already been regenerated as of that day: that snapshot"},
        201: {"description": "a new snapshot, marked regenerated"},
        403: {"description": "only the committee office"},
        422: {"description": "a day to come, or invalid fields"},
        503: {"description": "Temporal unreachable, or the report took longer than the request may wait"},
    },
)
async def regenerate_report(
    body: RegenerateRequest, response: Response, engine: EngineDep, actor: Regenerator, temporal: TemporalDep
) -> ReportSnapshotPublic:
    today = china_date(datetime.now(CHINA_TZ))
    if body.as_of > today:
        message = f"不能生成未来日期的报表（今天是 {today.isoformat()}）"
        raise Problem(422, "InvalidPayload", f"as_of：{message}", errors=[{"field": "as_of", "message": message}])
    handle = await temporal.start_workflow(
        REPORT_WORKFLOW,
        ReportInput(kind=body.kind, as_of=body.as_of, requested_by=actor.id),
        id=regeneration_workflow_id(body.kind, body.as_of),
        task_queue=REPORT_TASK_QUEUE,
        result_type=GeneratedReport,
        # A second request for the same report while the first runs waits for the same run.
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        execution_timeout=REGENERATION_TIMEOUT,
    )
    try:
        report: GeneratedReport = await asyncio.wait_for(handle.result(), REGENERATION_WAIT.total_seconds())
    except TimeoutError as err:
        raise Problem(503, "ReportPending", "报表仍在生成中，请稍后在报表列表中查看", title="报表生成中") from err
    except WorkflowFailureError as err:
        cause = err.cause.cause if isinstance(err.cause, ActivityError) else err.cause
        if isinstance(cause, ApplicationError):
            raise from_application_error(cause) from err
        log.error("report regeneration failed", kind=body.kind.value, as_of=body.as_of, cause=repr(cause))
        raise Problem(500, "InternalError", "服务内部错误，请联系运维人员", title="服务内部错误") from err
    snapshot = await run_in_threadpool(snapshot_of, engine, report.snapshot_id)
    assert snapshot is not None, f"snapshot {report.snapshot_id} was reported taken but is not in the read model"
    response.status_code = 201 if report.created else 200
    return ReportSnapshotPublic.model_validate(snapshot)
