"""Import jobs in the read model's database: any API replica answers for any job, and a restart keeps them."""

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import Engine
from sqlmodel import Session

from contracts.base import Model
from contracts.enums import Role
from contracts.hazard import Actor
from imports.parse import Problem
from readmodel.models import ImportJobRow

ImportStatus = Literal["validating", "invalid", "importing", "done", "failed"]
RUNNING: frozenset[str] = frozenset({"validating", "importing"})
# A running import writes its progress at least every second; one silent this long has stopped (its process
# ended). Importing the same file again is safe: what was started is skipped, the rest is started.
STALE_AFTER = timedelta(seconds=60)
INTERRUPTED = "导入已中断（服务重启或进程退出），请重新导入同一文件：已建档的隐患会被跳过，不会重复"


class RowError(Model):
    row: int
    column: str
    message: str


class ImportJob(Model):
    """An import as the API answers it (the UI's contract: keep it)."""

    id: str
    filename: str
    status: ImportStatus
    total_rows: int
    valid_rows: int
    imported: int
    skipped: int
    errors: list[RowError]


@dataclass
class Progress:
    """A running import's counts, moved by the runner and written to the job row by its flusher."""

    status: ImportStatus = "validating"
    total_rows: int = 0
    checked_rows: int = 0
    valid_rows: int = 0
    imported: int = 0
    skipped: int = 0
    failed: int = 0
    errors: list[Problem] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.status not in RUNNING


def new_job_id() -> str:
    return uuid.uuid4().hex


def create_job(
    engine: Engine, *, job_id: str, filename: str, file_sha256: str, only_valid: bool, actor: Actor, now: datetime
) -> ImportJobRow:
    row = ImportJobRow(
        id=job_id,
        filename=filename[:255],
        file_sha256=file_sha256,
        only_valid=only_valid,
        status="validating",
        created_by_id=actor.id,
        created_by_name=actor.name,
        created_by_role=actor.role.value,
        created_by_organisation=actor.organisation,
        created_at=now,
        updated_at=now,
    )
    with Session(engine, expire_on_commit=False) as session:
        session.add(row)
        session.commit()
    return row


def save_progress(engine: Engine, job_id: str, progress: Progress, now: datetime, *, with_errors: bool) -> None:
    with Session(engine) as session:
        row = session.get(ImportJobRow, job_id)
        if row is None:
            return
        row.status = progress.status
        row.total_rows = progress.total_rows
        row.valid_rows = progress.valid_rows
        row.imported = progress.imported
        row.skipped = progress.skipped
        if with_errors:
            row.errors = [{"row": p.row, "column": p.column, "message": p.message} for p in progress.errors]
        row.updated_at = now
        if progress.finished:
            row.finished_at = now
        session.add(row)
        session.commit()


def get_job(engine: Engine, job_id: str) -> ImportJobRow | None:
    with Session(engine) as session:
        return session.get(ImportJobRow, job_id)


def public(row: ImportJobRow, now: datetime) -> ImportJob:
    status: ImportStatus = row.status  # type: ignore[assignment]  # written only from ImportStatus
    errors = [RowError.model_validate(e) for e in row.errors]
    if status in RUNNING and now - row.updated_at > STALE_AFTER:
        status = "failed"
        errors.append(RowError(row=0, column="", message=INTERRUPTED))
    return ImportJob(
        id=row.id,
        filename=row.filename,
        status=status,
        total_rows=row.total_rows,
        valid_rows=row.valid_rows,
        imported=row.imported,
        skipped=row.skipped,
        errors=errors,
    )


def may_follow(actor: Actor, row: ImportJobRow) -> bool:
    """The committee office (and auditors, who read everything) follow every import; a department the imports
    of its own organisation."""
    if actor.role in (Role.COMMITTEE_OFFICE, Role.AUDITOR):
        return True
    return actor.role is Role.DEPARTMENT and row.created_by_organisation == actor.organisation
