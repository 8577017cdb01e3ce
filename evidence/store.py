"""Evidence files (佐证材料), named by the SHA-256 of their content: a workflow carries "sha256:<hex>", never bytes.

A store checks what nobody can trust the client for: the size (cut off while the bytes arrive, so a huge upload is
never held whole), the type (from the content, never from the client's Content-Type) and, on the way out, that the
bytes still hash to their name.
"""

import hashlib
import json
import os
import re
import tempfile
import zipfile
import zlib
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from enum import StrEnum
from functools import partial
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import IO

from pydantic import AwareDatetime, Field, ValidationError

from contracts.base import Model, Text
from contracts.clock import CHINA_TZ

DEFAULT_MAX_SIZE = 20 * 1024 * 1024
CHUNK_SIZE = 64 * 1024
SHA256_PATTERN = r"^[0-9a-f]{64}$"
REF_PREFIX = "sha256:"
# Only the part list of an Office file is read to tell .docx from .xlsx; a bigger one is not a real document.
MAX_CONTENT_TYPES_XML = 256 * 1024


class EvidenceType(StrEnum):
    JPEG = "image/jpeg"
    PNG = "image/png"
    WEBP = "image/webp"
    PDF = "application/pdf"
    DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

    @property
    def extensions(self) -> tuple[str, ...]:
        return EXTENSIONS[self]

    @property
    def label(self) -> str:
        return TYPE_LABELS[self]


EXTENSIONS: dict[EvidenceType, tuple[str, ...]] = {
    EvidenceType.JPEG: (".jpg", ".jpeg"),
    EvidenceType.PNG: (".png",),
    EvidenceType.WEBP: (".webp",),
    EvidenceType.PDF: (".pdf",),
    EvidenceType.DOCX: (".docx",),
    EvidenceType.XLSX: (".xlsx",),
}

TYPE_LABELS: dict[EvidenceType, str] = {
    EvidenceType.JPEG: "JPEG 图片",
    EvidenceType.PNG: "PNG 图片",
    EvidenceType.WEBP: "WebP 图片",
    EvidenceType.PDF: "PDF 文档",
    EvidenceType.DOCX: "Word 文档（.docx）",
    EvidenceType.XLSX: "Excel 表格（.xlsx）",
}


class EvidenceFile(Model):
    """What is known of one stored file besides its bytes."""

    sha256: str = Field(pattern=SHA256_PATTERN)
    filename: Text = Field(description="the name it was first uploaded under; never used as a path")
    content_type: EvidenceType = Field(description="as sniffed from the content")
    size: int = Field(ge=1)
    uploaded_at: AwareDatetime
    uploaded_by: Text = Field(description="id of the actor who first uploaded these bytes")

    @property
    def ref(self) -> str:
        return f"{REF_PREFIX}{self.sha256}"


class StoredEvidence(Model):
    file: EvidenceFile
    created: bool = Field(description="false when the same bytes were already stored (the first metadata stays)")


class EvidenceError(Exception):
    pass


class EvidenceTooLarge(EvidenceError):
    def __init__(self, max_size: int) -> None:
        super().__init__(f"larger than {max_size} bytes")
        self.max_size = max_size


class EvidenceEmpty(EvidenceError):
    pass


class EvidenceTypeNotAllowed(EvidenceError):
    def __init__(self, detected: EvidenceType | None, extension: str) -> None:
        super().__init__(f"content {detected or 'unknown'}, extension {extension or 'none'}")
        self.detected = detected
        self.extension = extension


class EvidenceNotFound(EvidenceError):
    pass


class EvidenceCorrupted(EvidenceError):
    def __init__(self, sha256: str, reason: str) -> None:
        super().__init__(f"{sha256}: {reason}")
        self.sha256 = sha256
        self.reason = reason


def parse_ref(ref: str) -> str | None:
    """The hash in a "sha256:<hex>" reference, or None when it is not one."""
    if not ref.startswith(REF_PREFIX):
        return None
    sha256 = ref.removeprefix(REF_PREFIX)
    return sha256 if re.fullmatch(SHA256_PATTERN, sha256) else None


def sniff(path: Path) -> EvidenceType | None:
    with path.open("rb") as file:
        head = file.read(16)
    if head.startswith(b"\xff\xd8\xff"):
        return EvidenceType.JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return EvidenceType.PNG
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return EvidenceType.WEBP
    if head.startswith(b"%PDF-"):
        return EvidenceType.PDF
    if head.startswith(b"PK\x03\x04"):
        return _office_type(path)
    return None


def _office_type(path: Path) -> EvidenceType | None:
    # Both are zip files; the declared main part tells them apart, and macro-enabled (.docm, .xlsm) or template
    # variants declare a different one, so they are refused.
    try:
        with zipfile.ZipFile(path) as archive, archive.open("[Content_Types].xml") as part:
            declared = part.read(MAX_CONTENT_TYPES_XML)
    except (zipfile.BadZipFile, KeyError, NotImplementedError, RuntimeError, EOFError, zlib.error):
        return None
    if b"wordprocessingml.document.main+xml" in declared:
        return EvidenceType.DOCX
    if b"spreadsheetml.sheet.main+xml" in declared:
        return EvidenceType.XLSX
    return None


def clean_filename(name: str) -> str:
    """The last component of what the client sent, printable and at most 200 characters, extension kept."""
    base = "".join(ch for ch in PureWindowsPath(name).name if ch.isprintable()).strip()
    if not base:
        return "evidence"
    if len(base) <= 200:
        return base
    stem, extension = os.path.splitext(base)
    return stem[: 200 - len(extension)] + extension if len(extension) <= 16 else base[:200]


def filename_extension(name: str) -> str:
    """The extension when the name has one that looks like a file type ("2026.11.23 整改照片" has none)."""
    suffix = PurePosixPath(name).suffix.lower()
    return suffix if re.fullmatch(r"\.[a-z0-9]{1,8}", suffix) else ""


def check_type(detected: EvidenceType | None, filename: str) -> EvidenceType:
    extension = filename_extension(filename)
    if detected is None or (extension and extension not in detected.extensions):
        raise EvidenceTypeNotAllowed(detected, extension)
    return detected


class Intake:
    """One upload on its way into a store: hashed and counted as it is written, refused once past the limit."""

    def __init__(self, file: IO[bytes], path: Path, max_size: int) -> None:
        self.path = path
        self.max_size = max_size
        self.size = 0
        self._file = file
        self._hash = hashlib.sha256()

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.max_size:
            raise EvidenceTooLarge(self.max_size)
        self._hash.update(chunk)
        self._file.write(chunk)

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def finish(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())


class OpenedEvidence:
    """A stored file already verified against its name, ready to be read from the start."""

    def __init__(self, file: EvidenceFile, content: IO[bytes]) -> None:
        self.file = file
        self._content = content

    def chunks(self) -> Iterator[bytes]:
        with self._content:
            yield from iter(partial(self._content.read, CHUNK_SIZE), b"")

    def close(self) -> None:
        self._content.close()


def verify(content: IO[bytes], sha256: str) -> None:
    """Hashes the whole content before any of it is handed out: a corrupted file is refused, not half-sent."""
    digest = hashlib.sha256()
    for chunk in iter(partial(content.read, CHUNK_SIZE), b""):
        digest.update(chunk)
    if digest.hexdigest() != sha256:
        raise EvidenceCorrupted(sha256, f"content hashes to {digest.hexdigest()}")
    content.seek(0)


def check_sha256(sha256: str) -> None:
    if not re.fullmatch(SHA256_PATTERN, sha256):
        raise ValueError(f"not a lowercase hex SHA-256: {sha256!r}")


class EvidenceStore(ABC):
    """Uploads arrive in an `Intake` (a local temporary file) and are committed once complete; `put` does both."""

    def __init__(self, *, staging_dir: Path, max_size: int = DEFAULT_MAX_SIZE) -> None:
        if max_size < 1:
            raise ValueError("max_size must be positive")
        self.max_size = max_size
        self._staging_dir = staging_dir
        staging_dir.mkdir(parents=True, exist_ok=True)

    @contextmanager
    def receive(self) -> Iterator[Intake]:
        fd, name = tempfile.mkstemp(dir=self._staging_dir, prefix="upload-")
        path = Path(name)
        try:
            with os.fdopen(fd, "wb") as file:
                yield Intake(file, path, self.max_size)
        finally:
            # Gone already when committed; left over when the upload was refused or broke off.
            path.unlink(missing_ok=True)

    def commit(self, intake: Intake, *, filename: str, uploaded_by: str) -> StoredEvidence:
        intake.finish()
        if intake.size == 0:
            raise EvidenceEmpty()
        name = clean_filename(filename)
        file = EvidenceFile(
            sha256=intake.sha256,
            filename=name,
            content_type=check_type(sniff(intake.path), name),
            size=intake.size,
            uploaded_at=datetime.now(CHINA_TZ),
            uploaded_by=uploaded_by,
        )
        return self._save(intake, file)

    def put(self, data: bytes | IO[bytes], *, filename: str, uploaded_by: str) -> StoredEvidence:
        with self.receive() as intake:
            if isinstance(data, bytes):
                intake.write(data)
            else:
                for chunk in iter(partial(data.read, CHUNK_SIZE), b""):
                    intake.write(chunk)
            return self.commit(intake, filename=filename, uploaded_by=uploaded_by)

    @abstractmethod
    def _save(self, intake: Intake, file: EvidenceFile) -> StoredEvidence: ...

    def open(self, sha256: str) -> OpenedEvidence:
        """The file and its metadata, verified; `EvidenceNotFound` or `EvidenceCorrupted` otherwise."""
        content = self._content(sha256)
        try:
            file = self._read_meta(sha256)
            verify(content, sha256)
        except BaseException:
            content.close()
            raise
        return OpenedEvidence(file, content)

    @abstractmethod
    def _content(self, sha256: str) -> IO[bytes]:
        """The stored bytes as an open file at its start; `EvidenceNotFound` when there are none."""

    @abstractmethod
    def _read_meta(self, sha256: str) -> EvidenceFile: ...

    @abstractmethod
    def exists(self, sha256: str) -> bool: ...


class LocalEvidenceStore(EvidenceStore):
    """root/ab/cd/<sha256> and its metadata beside it in <sha256>.json; both written whole or not at all."""

    def __init__(self, root: Path, *, max_size: int = DEFAULT_MAX_SIZE) -> None:
        super().__init__(staging_dir=root / ".staging", max_size=max_size)
        self.root = root

    def path(self, sha256: str) -> Path:
        check_sha256(sha256)
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def _sidecar(self, sha256: str) -> Path:
        return self.path(sha256).with_suffix(".json")

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def _save(self, intake: Intake, file: EvidenceFile) -> StoredEvidence:
        target = self.path(file.sha256)
        sidecar = self._sidecar(file.sha256)
        if target.is_file() and self._intact(target, file.sha256) and sidecar.is_file():
            return StoredEvidence(file=self._read_meta(file.sha256), created=False)
        # Re-uploading the right bytes over a damaged copy repairs it. The metadata goes first, so a file that
        # exists always has it; the first upload's metadata is kept.
        target.parent.mkdir(parents=True, exist_ok=True)
        if not sidecar.is_file():
            self._write_atomically(sidecar, file.model_dump_json(indent=2).encode())
        os.replace(intake.path, target)
        _fsync_dir(target.parent)
        return StoredEvidence(file=self._read_meta(file.sha256), created=True)

    def _content(self, sha256: str) -> IO[bytes]:
        try:
            return self.path(sha256).open("rb")
        except FileNotFoundError as err:
            raise EvidenceNotFound(sha256) from err

    def _read_meta(self, sha256: str) -> EvidenceFile:
        try:
            file = EvidenceFile.model_validate(json.loads(self._sidecar(sha256).read_bytes()))
        except (FileNotFoundError, ValueError, ValidationError) as err:
            raise EvidenceCorrupted(sha256, f"metadata unreadable: {err}") from err
        if file.sha256 != sha256:
            raise EvidenceCorrupted(sha256, f"metadata names {file.sha256}")
        return file

    def _intact(self, path: Path, sha256: str) -> bool:
        with path.open("rb") as content:
            try:
                verify(content, sha256)
            except EvidenceCorrupted:
                return False
        return True

    def _write_atomically(self, path: Path, data: bytes) -> None:
        fd, name = tempfile.mkstemp(dir=self._staging_dir, prefix="meta-")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(name, path)
        finally:
            Path(name).unlink(missing_ok=True)


def _fsync_dir(path: Path) -> None:
    """Makes a rename durable: the directory entry is on disk, not just the file's bytes."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
