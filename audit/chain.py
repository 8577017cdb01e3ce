"""The audit trail's hash chain: how a record is hashed, and how a chain and its checkpoints are verified.

Each record's hash is SHA-256 over a canonical JSON of all its fields, its own seq and the previous record's
hash included, so changing, removing, inserting or moving a record breaks the chain at that record. Someone
with write access to the database could still rewrite every record after a change consistently; the
checkpoints (the head's seq and hash, written to a file outside the database) are what catch that, and a
tail truncated after a checkpoint. Records after the newest checkpoint are only as safe as the database.

Pure: no database, no files. `audit.store` feeds it rows and checkpoint lines.
"""

import hashlib
import json
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel

GENESIS = "0" * 64

# Every field of a record but its own hash, in the canonical JSON under that hash.
HASHED_FIELDS = (
    "seq",
    "at",
    "actor_id",
    "actor_name",
    "actor_role",
    "actor_organisation",
    "method",
    "route",
    "action",
    "object_id",
    "status",
    "outcome",
    "source_ip",
    "request_id",
    "prev_hash",
)

# How far back a record's prev_hash is looked up, to name the first of a run of forged records slipped in
# before it (with the later records renumbered). A longer run is reported at its end.
INSERTION_WINDOW = 1024


Record = Mapping[str, Any]


def canonical(record: Record) -> bytes:
    values: dict[str, Any] = {}
    for name in HASHED_FIELDS:
        value = record[name]
        if isinstance(value, datetime):
            if value.tzinfo is None:
                raise ValueError(f"{name}: naive datetime cannot be hashed")
            value = value.astimezone(UTC).isoformat(timespec="microseconds")
        values[name] = value
    return json.dumps(values, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def record_hash(record: Record) -> str:
    """The hash a record with these fields (its `prev_hash` among them; others ignored) must carry."""
    return hashlib.sha256(canonical(record)).hexdigest()


class Checkpoint(BaseModel):
    """The chain's head at some moment, kept outside the database."""

    seq: int
    hash: str
    at: datetime


class Problem(StrEnum):
    ALTERED = "altered"
    MISSING = "missing"
    INSERTED = "inserted"
    CHECKPOINT_MISMATCH = "checkpoint_mismatch"
    TRUNCATED = "truncated"
    CHECKPOINTS_DAMAGED = "checkpoints_damaged"


class VerifyResult(BaseModel):
    ok: bool
    records_checked: int
    checkpoints_checked: int
    # The earliest record that can no longer be trusted; None when intact (or only the checkpoint file is bad).
    first_bad_seq: int | None = None
    problem: Problem | None = None
    reason: str | None = None


@dataclass(frozen=True)
class _Finding:
    seq: int
    problem: Problem
    reason: str


def verify_chain(records: Iterable[Record], checkpoints: Sequence[Checkpoint]) -> VerifyResult:
    """Walks `records` in seq order from seq 1 and stops at the first record that cannot be trusted.

    A checkpoint vouches for its record and, through the chain, every record before it; one that disagrees
    with the table means the records since the last agreeing checkpoint were rewritten.
    """
    expected: dict[int, list[Checkpoint]] = {}
    for checkpoint in checkpoints:
        expected.setdefault(checkpoint.seq, []).append(checkpoint)
    vouched = 0  # the last seq a checkpoint agreed with
    checked = 0
    prev_hash = GENESIS
    # Recent hashes by value, to tell a forged record slipped in from a changed one.
    recent: dict[str, int] = {}
    order: deque[str] = deque()

    def result(finding: _Finding | None) -> VerifyResult:
        confirmed = sum(len(found) for seq, found in expected.items() if seq <= checked)
        if finding is None:
            return VerifyResult(ok=True, records_checked=checked, checkpoints_checked=confirmed)
        return VerifyResult(
            ok=False,
            records_checked=checked,
            checkpoints_checked=confirmed,
            first_bad_seq=finding.seq,
            problem=finding.problem,
            reason=finding.reason,
        )

    for record in records:
        seq = checked + 1
        if record["seq"] != seq:
            missing = f"第 {seq} 条" if record["seq"] == seq + 1 else f"第 {seq} 至 {record['seq'] - 1} 条"
            return result(_Finding(seq, Problem.MISSING, f"{missing}审计记录缺失（被删除）"))
        intact = record_hash(record) == record["hash"]
        linked = record["prev_hash"] == prev_hash
        if not (intact and linked):
            return result(_broken(record, intact=intact, linked=linked, recent=recent))
        for checkpoint in expected.get(seq, []):
            if checkpoint.hash != record["hash"]:
                return result(
                    _Finding(
                        vouched + 1,
                        Problem.CHECKPOINT_MISMATCH,
                        f"第 {seq} 条与检查点（{checkpoint.at.isoformat()}）不符："
                        f"第 {vouched + 1} 至 {seq} 条之间的记录被整体改写",
                    )
                )
        if seq in expected:
            vouched = seq
        checked = seq
        prev_hash = record["hash"]
        recent[record["hash"]] = seq
        order.append(record["hash"])
        if len(order) > INSERTION_WINDOW:
            recent.pop(order.popleft(), None)

    beyond = [seq for seq in expected if seq > checked]
    if beyond:
        return result(
            _Finding(
                checked + 1,
                Problem.TRUNCATED,
                f"检查点记录到第 {max(beyond)} 条，表中只到第 {checked} 条：其后的记录被截除",
            )
        )
    return result(None)


def _broken(record: Record, *, intact: bool, linked: bool, recent: Mapping[str, int]) -> _Finding:
    seq: int = record["seq"]
    # A record still naming an earlier record as its predecessor: what lies between was slipped in.
    skipped_to = recent.get(record["prev_hash"])
    if not linked and skipped_to is not None and skipped_to < seq - 1:
        first = skipped_to + 1
        return _Finding(first, Problem.INSERTED, f"第 {first} 至 {seq - 1} 条是插入的伪造记录")
    if not intact:
        return _Finding(seq, Problem.ALTERED, f"第 {seq} 条的内容或位置被改动（哈希不符）")
    # This record is whole but names a different predecessor: the one before was changed and re-hashed.
    return _Finding(seq - 1, Problem.ALTERED, f"第 {seq - 1} 条被改动后重算了哈希（与第 {seq} 条记下的不符）")


def parse_checkpoints(lines: Iterable[str]) -> list[Checkpoint]:
    """One JSON object a line; raises CheckpointsDamaged naming the first line that is not one."""
    checkpoints = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            checkpoints.append(Checkpoint.model_validate_json(line))
        except ValueError as err:
            raise CheckpointsDamaged(number) from err
    return checkpoints


class CheckpointsDamaged(Exception):
    def __init__(self, line: int) -> None:
        super().__init__(f"checkpoint file line {line} is not a checkpoint")
        self.line = line

    def result(self) -> VerifyResult:
        return VerifyResult(
            ok=False,
            records_checked=0,
            checkpoints_checked=0,
            problem=Problem.CHECKPOINTS_DAMAGED,
            reason=f"检查点文件第 {self.line} 行已损坏，无法核验",
        )
