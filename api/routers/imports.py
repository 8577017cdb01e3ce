"""Ledger imports: upload a 督改台账, follow the job (validation, then hazards started), fetch the template.

The import runs in the background of the API process that took the upload; its progress lives in the
database, so any replica answers GET /imports/{id}. If that process stops, the job reads as failed after a
minute of silence, and importing the same file again finishes it without creating anything twice.
"""

import asyncio
import hashlib
from datetime import datetime
from pathlib import Path
from typing import IO, Annotated

import structlog
from fastapi import APIRouter, File, Form, Request, UploadFile, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from sqlalchemy import Engine
from temporalio.client import Client

from api.deps import CurrentActor, EngineDep, SettingsDep, TemporalDep
from api.errors import Problem
from api.routers.ledgers import XLSX_RESPONSE, download, now_and_today
from contracts.clock import CHINA_TZ
from contracts.enums import Role
from contracts.hazard import Actor
from imports import jobs, layout
from imports.district import DISTRICTS
from imports.jobs import ImportJob
from imports.runner import ImportRunner
from settings import Settings
from workflows.lifecycle import IMPORT_ROLES

log = structlog.get_logger("api.imports")

router = APIRouter(prefix="/imports", tags=["imports"])

# A district's ledger of thousands of rows is a few MB; anything far larger is not a ledger.
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
XLSX_MAGIC = b"PK\x03\x04"
# Jobs running in this process, held so that they are not collected while they run.
_RUNNING: set[asyncio.Task[object]] = set()

JOB_RESPONSES: dict[int | str, dict[str, str]] = {
    403: {"description": "only the committee office and departments import (auditors may follow a job)"},
    404: {"description": "no such import job (or another department's)"},
}


def require_importer(actor: Actor) -> None:
    if actor.role not in IMPORT_ROLES:
        raise Problem(403, "RoleForbidden", "只有区安委办和行业部门可以导入台账")


@router.get(
    "/template.xlsx",
    summary="导入模板：空的重大隐患督改台账，含全部可导入的列和填写说明",
    responses={**XLSX_RESPONSE, 403: JOB_RESPONSES[403]},
)
def import_template(actor: CurrentActor, settings: SettingsDep) -> StreamingResponse:
    require_importer(actor)
    _, today = now_and_today()

    def write(out: IO[bytes]) -> None:
        layout.write_template(
            out,
            district=DISTRICTS.get(settings.district_code),
            district_name=settings.district_name,
            today=today,
        )

    return download(f"重大隐患督改台账导入模板_{today:%Y%m%d}.xlsx", write)


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    summary="导入督改台账 (upload an .xlsx; every row is validated before anything is imported)",
    responses={
        **JOB_RESPONSES,
        413: {"description": "the file is larger than 50 MB"},
        415: {"description": "not an .xlsx file"},
    },
)
async def start_import(
    request: Request,
    actor: CurrentActor,
    engine: EngineDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    file: Annotated[UploadFile, File(description="重大隐患督改台账 (.xlsx)")],
    only_valid: Annotated[bool, Form(description="import the valid rows even if others are bad")] = False,
) -> ImportJob:
    require_importer(actor)
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_UPLOAD_BYTES + 64 * 1024:
        raise Problem(413, "FileTooLarge", "文件超过 50 MB，请分批导入")
    filename = (file.filename or "ledger.xlsx").rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
    if not filename.lower().endswith(".xlsx"):
        raise Problem(415, "UnsupportedFileType", "请上传 .xlsx 格式的台账文件（Excel 2007 及以上版本）")
    job_id = jobs.new_job_id()
    path = settings.data_dir / "imports" / f"{job_id}.xlsx"
    digest = await run_in_threadpool(_save, file, path)
    if digest is None:
        raise Problem(415, "UnsupportedFileType", "文件不是有效的 .xlsx 台账（Excel 2007 及以上版本）")
    now = datetime.now(CHINA_TZ)
    row = await run_in_threadpool(
        lambda: jobs.create_job(
            engine, job_id=job_id, filename=filename, file_sha256=digest, only_valid=only_valid, actor=actor, now=now
        )
    )
    task = asyncio.create_task(_run(engine, temporal, settings, job_id, path, actor, digest, only_valid))
    _RUNNING.add(task)
    task.add_done_callback(_RUNNING.discard)
    log.info("import accepted", job_id=job_id, filename=filename, only_valid=only_valid)
    return jobs.public(row, now)


def _save(file: UploadFile, path: Path) -> str | None:
    """Copy the upload to the data directory; its SHA-256, or None (and no file) if it is no .xlsx."""
    path.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    file.file.seek(0)
    with path.open("wb") as out:
        while piece := file.file.read(1 << 20):
            size += len(piece)
            if size > MAX_UPLOAD_BYTES:
                out.close()
                path.unlink()
                raise Problem(413, "FileTooLarge", "文件超过 50 MB，请分批导入")
            digest.update(piece)
            out.write(piece)
    with path.open("rb") as saved:
        if saved.read(len(XLSX_MAGIC)) != XLSX_MAGIC:
            path.unlink()
            return None
    return digest.hexdigest()


async def _run(
    engine: Engine,
    temporal: Client,
    settings: Settings,
    job_id: str,
    path: Path,
    actor: Actor,
    digest: str,
    only_valid: bool,
) -> None:
    runner = ImportRunner(engine, temporal, district_code=settings.district_code, listing_issuer=settings.issuer_name)
    try:
        await runner.run(job_id, path, actor=actor, file_sha256=digest, only_valid=only_valid)
    finally:
        await asyncio.to_thread(path.unlink, missing_ok=True)


@router.get("/{job_id}", summary="导入进度：校验行数、已导入、已跳过及每一行的问题", responses=JOB_RESPONSES)
async def import_job(job_id: str, actor: CurrentActor, engine: EngineDep) -> ImportJob:
    if actor.role not in (*IMPORT_ROLES, Role.AUDITOR):
        raise Problem(403, "RoleForbidden", "无权查看台账导入任务")
    row = await run_in_threadpool(jobs.get_job, engine, job_id)
    if row is None or not jobs.may_follow(actor, row):
        raise Problem(404, "ImportJobNotFound", f"未找到导入任务 {job_id}", title="导入任务不存在")
    return jobs.public(row, datetime.now(CHINA_TZ))
