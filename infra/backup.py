"""Backup and restore of the embedded stack's data: the Temporal file, the read model, evidence, the audit
checkpoints, the keys and the report snapshots.

A backup is a directory: `manifest.json` (every file with its size and SHA-256) beside the copies. SQLite databases
are copied with SQLite's online backup, so the stack may keep running. They are taken in the order that keeps a
restore consistent: the audit checkpoints before the read model that holds the records they vouch for, the read
model before the Temporal file (the workflows are the truth, so at worst the read model is a moment behind and
`cli.py reconcile` brings it up), the other files (evidence) last, so every file a record names is there.

A restore refuses a damaged backup (a size or checksum that does not match) and a target that already holds data:
it never mixes two histories and never overwrites one.
"""

import hashlib
import json
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from audit.store import CHECKPOINT_FILE
from settings import Settings

MANIFEST = "manifest.json"
FORMAT = 1
# Where each part goes inside a backup, whatever its path on the machine.
DATA = "data"
READ_MODEL = "readmodel.db"
CHECKPOINTS = "audit-checkpoints.jsonl"
# A SQLite database's companions: the online backup already holds what they held.
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")

Progress = Callable[[str], None]


class BackupError(Exception):
    """Something a person must fix; the message says what, in Chinese and English."""


@dataclass(frozen=True)
class Places:
    """Where this stack keeps each part."""

    data_dir: Path
    read_model: Path | None
    checkpoints: Path

    @staticmethod
    def of(settings: Settings) -> "Places":
        url = settings.database_url
        read_model = Path(url.split("///", 1)[1]) if url.startswith("sqlite") else None
        checkpoints = settings.audit_checkpoint_path or settings.data_dir / CHECKPOINT_FILE
        return Places(settings.data_dir, read_model, checkpoints)


@dataclass(frozen=True)
class Made:
    files: int
    bytes: int


def backup(settings: Settings, target: Path, progress: Progress = print) -> Made:
    places = Places.of(settings)
    if not places.data_dir.is_dir():
        raise BackupError(f"数据目录不存在 / no data directory at {places.data_dir}")
    if target.exists() and any(target.iterdir()):
        raise BackupError(f"备份目录非空 / the backup directory {target} is not empty")
    target.mkdir(parents=True, exist_ok=True)
    temporal = places.data_dir / "temporal.db"
    done: set[Path] = set()

    def take(source: Path, name: str) -> None:
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        if _is_sqlite(source):
            _sqlite_copy(source, destination)
        else:
            shutil.copy2(source, destination)
        done.add(source.resolve())
        progress(f"{name}  {destination.stat().st_size:,} B")

    if places.checkpoints.exists():
        take(places.checkpoints, CHECKPOINTS)
    if places.read_model is None:
        progress(
            "读模型在 PostgreSQL 上：请另用 pg_dump 备份 / the read model is on PostgreSQL: back it up with pg_dump"
        )
    elif places.read_model.exists():
        take(places.read_model, READ_MODEL)
    if temporal.exists():
        take(temporal, f"{DATA}/temporal.db")
    for source in _files(places.data_dir):
        if source.resolve() not in done and not _companion(source):
            take(source, f"{DATA}/{source.relative_to(places.data_dir).as_posix()}")
    files = {name: _fingerprint(target / name) for name in sorted(_names(target))}
    manifest = {
        "format": FORMAT,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "read_model_on_postgresql": places.read_model is None,
        "files": files,
    }
    (target / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    return Made(files=len(files), bytes=sum(int(f["bytes"]) for f in files.values()))


def restore(settings: Settings, source: Path, progress: Progress = print) -> int:
    """Copies a checked backup to this stack's places; the number of files restored."""
    places = Places.of(settings)
    files = _checked_files(source)
    plan: list[tuple[str, Path]] = []
    for name in files:
        if name == READ_MODEL:
            if places.read_model is None:
                raise BackupError("备份含 SQLite 读模型，而本机配置为 PostgreSQL / the backup's read model is SQLite")
            plan.append((name, places.read_model))
        elif name == CHECKPOINTS:
            plan.append((name, places.checkpoints))
        else:
            plan.append((name, places.data_dir / name.removeprefix(f"{DATA}/")))
    if places.data_dir.exists() and any(places.data_dir.iterdir()):
        raise BackupError(f"目标数据目录非空 / the data directory {places.data_dir} already holds data")
    taken = [str(destination) for _, destination in plan if destination.exists()]
    if taken:
        raise BackupError(f"目标文件已存在 / these already exist: {', '.join(taken)}")
    for name, destination in plan:
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / name, destination)
        progress(f"{name} -> {destination}")
    return len(plan)


def _checked_files(source: Path) -> dict[str, dict[str, str | int]]:
    """The backup's files, once each is there with its recorded size and checksum."""
    try:
        manifest: dict[str, object] = json.loads((source / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise BackupError(f"不是可用的备份（缺少或损坏的 {MANIFEST}）/ not a backup: {err}") from err
    if manifest.get("format") != FORMAT:
        raise BackupError(f"不支持的备份格式 / unsupported backup format {manifest.get('format')!r}")
    files = manifest.get("files")
    if not isinstance(files, dict):
        raise BackupError(f"{MANIFEST} 无文件清单 / lists no files")
    damaged = [name for name, expected in files.items() if _fingerprint_or_none(source / name) != expected]
    if damaged:
        raise BackupError(f"备份已损坏，未恢复任何文件 / damaged, nothing restored: {', '.join(sorted(damaged))}")
    return files


def _names(root: Path) -> Iterator[str]:
    for path in _files(root):
        name = path.relative_to(root).as_posix()
        if name != MANIFEST:
            yield name


def _files(root: Path) -> Iterator[Path]:
    return (p for p in sorted(root.rglob("*")) if p.is_file())


def _companion(path: Path) -> bool:
    return any(path.name.endswith(suffix) for suffix in SQLITE_COMPANIONS)


def _is_sqlite(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(16) == b"SQLite format 3\x00"


def _sqlite_copy(source: Path, destination: Path) -> None:
    """A consistent copy while others write: SQLite's online backup, pages in steps so writers are not held up."""
    with closing(sqlite3.connect(source, timeout=30)) as src, closing(sqlite3.connect(destination)) as dst:
        src.backup(dst, pages=1024)
        # The copy stands alone: no write-ahead log beside it.
        dst.execute("PRAGMA journal_mode=DELETE")


def _fingerprint(path: Path) -> dict[str, str | int]:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return {"bytes": path.stat().st_size, "sha256": digest.hexdigest()}


def _fingerprint_or_none(path: Path) -> dict[str, str | int] | None:
    return _fingerprint(path) if path.is_file() else None
