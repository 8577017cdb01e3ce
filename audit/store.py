"""The audit trail in the database: appends serialized into one chain, checkpoints to a file, and queries."""

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import Connection, Engine, func, insert, text
from sqlmodel import Session, col, select

from audit.chain import GENESIS, Checkpoint, CheckpointsDamaged, VerifyResult, parse_checkpoints, record_hash
from audit.chain import verify_chain as verify_records
from contracts.hazard import Actor
from readmodel.audit_models import AuditRecord, AuditRecordPublic, AuditRecordsPublic
from settings import Settings

log = structlog.get_logger("audit")

CHECKPOINT_EVERY = 100
CHECKPOINT_FILE = "audit-checkpoints.jsonl"
# Rows fetched at a time while verifying: the whole trail is walked, never held.
VERIFY_BATCH = 1000


def outcome(status: int) -> str:
    if status >= 500:
        return "error"
    return "denied" if status >= 400 else "accepted"


@dataclass(frozen=True)
class AuditEntry:
    """One request as the API saw it; the store adds seq, time and the chain."""

    method: str
    route: str
    action: str
    status: int
    request_id: str
    actor: Actor | None = None
    object_id: str | None = None
    source_ip: str | None = None


class AuditStore:
    """Appends to the one chain from any number of threads and processes; writes the checkpoint file."""

    def __init__(self, engine: Engine, *, checkpoint_path: Path, checkpoint_every: int = CHECKPOINT_EVERY) -> None:
        self.engine = engine
        self.checkpoint_path = checkpoint_path
        self.checkpoint_every = checkpoint_every
        # The database serializes appenders across processes; within one, waiting here beats SQLite's
        # busy-retry loop.
        self._lock = threading.Lock()

    def append(self, entry: AuditEntry) -> AuditRecordPublic:
        actor = entry.actor
        with self._lock, self.engine.connect() as conn:
            _lock_chain(conn)
            head = conn.execute(
                select(col(AuditRecord.seq), col(AuditRecord.hash)).order_by(col(AuditRecord.seq).desc()).limit(1)
            ).first()
            record: dict[str, Any] = {
                "seq": head.seq + 1 if head else 1,
                "at": datetime.now(UTC),
                "actor_id": actor.id if actor else None,
                "actor_name": actor.name if actor else None,
                "actor_role": actor.role.value if actor else None,
                "actor_organisation": actor.organisation if actor else None,
                "method": entry.method,
                "route": entry.route[:300],
                "action": entry.action[:64],
                "object_id": entry.object_id[:200] if entry.object_id else None,
                "status": entry.status,
                "outcome": outcome(entry.status),
                "source_ip": entry.source_ip,
                "request_id": entry.request_id,
                "prev_hash": head.hash if head else GENESIS,
            }
            record["hash"] = record_hash(record)
            conn.execute(insert(AuditRecord).values(record))
            conn.commit()
        if record["seq"] % self.checkpoint_every == 0:
            # After the commit: a checkpoint must never name a record that might not exist.
            self._write_checkpoint(Checkpoint(seq=record["seq"], hash=record["hash"], at=record["at"]))
        return AuditRecordPublic.model_validate(record)

    def checkpoint(self) -> Checkpoint | None:
        """Writes the current head to the checkpoint file (None while the trail is empty)."""
        with Session(self.engine) as session:
            head = session.exec(select(AuditRecord).order_by(col(AuditRecord.seq).desc()).limit(1)).first()
        if head is None:
            return None
        checkpoint = Checkpoint(seq=head.seq, hash=head.hash, at=datetime.now(UTC))
        self._write_checkpoint(checkpoint)
        return checkpoint

    def read_checkpoints(self) -> list[Checkpoint]:
        if not self.checkpoint_path.exists():
            return []
        with self.checkpoint_path.open(encoding="utf-8") as lines:
            return parse_checkpoints(lines)

    def verify(self) -> VerifyResult:
        # The checkpoints first: each was written after its record committed, so the table read next holds it.
        try:
            checkpoints = self.read_checkpoints()
        except CheckpointsDamaged as err:
            return err.result()
        with Session(self.engine) as session:
            return verify(session=session, checkpoints=checkpoints)

    def _write_checkpoint(self, checkpoint: Checkpoint) -> None:
        try:
            self.checkpoint_path.parent.mkdir(parents=True, exist_ok=True)
            with self.checkpoint_path.open("a", encoding="utf-8") as out:
                out.write(checkpoint.model_dump_json() + "\n")
                out.flush()
                os.fsync(out.fileno())
        except OSError as err:
            # The record itself is committed; a missed checkpoint only widens the window the next one closes.
            log.error("audit checkpoint not written", seq=checkpoint.seq, error=type(err).__name__)


def _lock_chain(conn: Connection) -> None:
    """Makes this transaction the only appender until it ends, so two records never share a predecessor."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        # Conflicts with itself and with every writer, not with readers (auditors keep reading).
        conn.execute(text("LOCK TABLE audit_record IN EXCLUSIVE MODE"))


def store_for(settings: Settings, engine: Engine) -> AuditStore:
    path = settings.audit_checkpoint_path
    every = settings.audit_checkpoint_every
    return AuditStore(engine, checkpoint_path=path or settings.data_dir / CHECKPOINT_FILE, checkpoint_every=every)


def verify(*, session: Session, checkpoints: list[Checkpoint]) -> VerifyResult:
    """The whole trail from seq 1 against the checkpoints; read them before this session's first query."""
    return verify_records(_all_records(session), checkpoints)


def _all_records(session: Session) -> Iterator[dict[str, Any]]:
    rows = session.connection().execute(
        select(AuditRecord).order_by(col(AuditRecord.seq)).execution_options(yield_per=VERIFY_BATCH)
    )
    for row in rows.mappings():
        yield dict(row)


@dataclass(frozen=True)
class AuditFilter:
    actor_id: str | None = None
    organisation: str | None = None
    action: str | None = None
    object_id: str | None = None
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def search(*, session: Session, where: AuditFilter, offset: int, limit: int) -> AuditRecordsPublic:
    """Newest first."""
    conditions = [
        col(column) == value
        for column, value in (
            (AuditRecord.actor_id, where.actor_id),
            (AuditRecord.actor_organisation, where.organisation),
            (AuditRecord.action, where.action),
            (AuditRecord.object_id, where.object_id),
            (AuditRecord.outcome, where.outcome),
        )
        if value is not None
    ]
    if where.since is not None:
        conditions.append(col(AuditRecord.at) >= where.since)
    if where.until is not None:
        conditions.append(col(AuditRecord.at) < where.until)
    count = session.exec(select(func.count()).select_from(AuditRecord).where(*conditions)).one()
    rows = session.exec(
        select(AuditRecord).where(*conditions).order_by(col(AuditRecord.seq).desc()).offset(offset).limit(limit)
    ).all()
    return AuditRecordsPublic(data=[AuditRecordPublic.model_validate(row) for row in rows], count=count)


def records_about(*, session: Session, object_id: str) -> list[AuditRecordPublic]:
    """Every audited request naming this object, oldest first."""
    rows = session.exec(
        select(AuditRecord).where(col(AuditRecord.object_id) == object_id).order_by(col(AuditRecord.seq))
    ).all()
    return [AuditRecordPublic.model_validate(row) for row in rows]
