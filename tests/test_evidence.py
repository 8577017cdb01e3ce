"""The evidence store: content-addressed, written whole or not at all, checked on the way in and out."""

import hashlib
import io
import json
import os
import struct
import uuid
import zipfile
import zlib
from pathlib import Path

import docx
import pytest

from evidence import (
    EvidenceCorrupted,
    EvidenceEmpty,
    EvidenceNotFound,
    EvidenceTooLarge,
    EvidenceType,
    EvidenceTypeNotAllowed,
    LocalEvidenceStore,
    parse_ref,
)
from evidence.store import CHUNK_SIZE, clean_filename


def png(label: str | None = None) -> bytes:
    """A real 1×1 PNG; the label (a tEXt chunk) makes each one's bytes, and so its hash, unique."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    text = b"Comment\x00" + (label or uuid.uuid4().hex).encode()
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"tEXt", text)
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
        + chunk(b"IEND", b"")
    )


def word_document(text: str = "整改验收记录") -> bytes:
    document = docx.Document()
    document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def office_zip(main_part_type: str) -> bytes:
    """The smallest zip an Office sniffer looks at: its part list declaring the main part's type."""
    content_types = (
        '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
        f'content-types"><Override PartName="/main.xml" ContentType="{main_part_type}"/></Types>'
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", content_types)
        archive.writestr("main.xml", "<x/>")
    return out.getvalue()


XLSX_MAIN = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
DOCM_MAIN = "application/vnd.ms-word.document.macroEnabled.main+xml"
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 48


@pytest.fixture
def store(tmp_path: Path) -> LocalEvidenceStore:
    return LocalEvidenceStore(tmp_path / "evidence", max_size=64 * 1024)


def stored_files(store: LocalEvidenceStore) -> list[Path]:
    return sorted(p for p in store.root.rglob("*") if p.is_file() and ".staging" not in p.parts)


def test_put_stores_by_content_hash_with_its_metadata_beside_it(store: LocalEvidenceStore) -> None:
    data = png()
    sha256 = hashlib.sha256(data).hexdigest()

    stored = store.put(data, filename="整改后照片.png", uploaded_by="ent-001")

    assert stored.created is True
    assert stored.file.sha256 == sha256
    assert stored.file.ref == f"sha256:{sha256}"
    path = store.root / sha256[:2] / sha256[2:4] / sha256
    assert path.read_bytes() == data
    sidecar = json.loads(path.with_suffix(".json").read_text())
    assert sidecar["content_type"] == "image/png"
    assert sidecar["size"] == len(data)
    assert sidecar["filename"] == "整改后照片.png"
    assert sidecar["uploaded_by"] == "ent-001"
    assert sidecar["uploaded_at"].endswith("+08:00")
    assert store.exists(sha256)
    assert list((store.root / ".staging").iterdir()) == []


def test_the_same_bytes_again_are_stored_once_and_keep_their_first_metadata(store: LocalEvidenceStore) -> None:
    data = png()
    first = store.put(data, filename="a.png", uploaded_by="ent-001")
    again = store.put(io.BytesIO(data), filename="b.png", uploaded_by="dept-001")

    assert again.created is False
    assert again.file == first.file
    assert len(stored_files(store)) == 2  # the file and its metadata, nothing more
    assert list((store.root / ".staging").iterdir()) == []


def test_open_gives_back_the_bytes_and_metadata(store: LocalEvidenceStore) -> None:
    data = word_document()
    stored = store.put(data, filename="验收记录.docx", uploaded_by="ent-001")

    opened = store.open(stored.file.sha256)

    assert b"".join(opened.chunks()) == data
    assert opened.file.content_type is EvidenceType.DOCX


def test_a_write_that_fails_before_the_rename_leaves_nothing(
    store: LocalEvidenceStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = png()

    def crash(src: object, dst: object) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk gone"):
        store.put(data, filename="a.png", uploaded_by="ent-001")
    monkeypatch.undo()

    sha256 = hashlib.sha256(data).hexdigest()
    assert not store.exists(sha256)
    assert stored_files(store) == []
    assert list((store.root / ".staging").iterdir()) == []
    assert store.put(data, filename="a.png", uploaded_by="ent-001").created is True


def test_corrupted_bytes_are_refused_on_read(store: LocalEvidenceStore) -> None:
    data = png()
    sha256 = store.put(data, filename="a.png", uploaded_by="ent-001").file.sha256
    path = store.path(sha256)
    path.write_bytes(data[:-1] + bytes([data[-1] ^ 0x01]))

    with pytest.raises(EvidenceCorrupted) as refused:
        store.open(sha256)
    assert refused.value.sha256 == sha256


def test_lost_metadata_is_refused_on_read(store: LocalEvidenceStore) -> None:
    sha256 = store.put(png(), filename="a.png", uploaded_by="ent-001").file.sha256
    store.path(sha256).with_suffix(".json").unlink()

    with pytest.raises(EvidenceCorrupted, match="metadata"):
        store.open(sha256)


def test_uploading_the_right_bytes_again_repairs_a_corrupted_copy(store: LocalEvidenceStore) -> None:
    data = png()
    sha256 = store.put(data, filename="a.png", uploaded_by="ent-001").file.sha256
    store.path(sha256).write_bytes(b"\x89PNG garbage")

    repaired = store.put(data, filename="a.png", uploaded_by="ent-001")

    assert repaired.created is True
    assert b"".join(store.open(sha256).chunks()) == data


def test_unknown_and_malformed_hashes(store: LocalEvidenceStore) -> None:
    with pytest.raises(EvidenceNotFound):
        store.open("0" * 64)
    assert store.exists("0" * 64) is False
    with pytest.raises(ValueError, match="SHA-256"):
        store.open("../../etc/passwd")


class EndlessUpload(io.BytesIO):
    """A client that would send forever: counts what the store asked it for."""

    sent = 0

    def read(self, size: int | None = -1, /) -> bytes:
        size = size if size is not None and size > 0 else CHUNK_SIZE
        head = b"\xff\xd8\xff" if self.sent == 0 else b""
        self.sent += size
        return (head + b"\x00" * size)[:size]


def test_the_size_limit_stops_reading_mid_stream(store: LocalEvidenceStore) -> None:
    upload = EndlessUpload()

    with pytest.raises(EvidenceTooLarge) as refused:
        store.put(upload, filename="huge.jpg", uploaded_by="ent-001")

    assert refused.value.max_size == 64 * 1024
    assert upload.sent <= store.max_size + CHUNK_SIZE
    assert list((store.root / ".staging").iterdir()) == []


def test_exactly_the_limit_is_accepted(tmp_path: Path) -> None:
    data = png()
    store = LocalEvidenceStore(tmp_path, max_size=len(data))
    assert store.put(data, filename="a.png", uploaded_by="ent-001").file.size == len(data)
    with pytest.raises(EvidenceTooLarge):
        LocalEvidenceStore(tmp_path, max_size=len(data) - 1).put(png(), filename="a.png", uploaded_by="ent-001")


def test_an_empty_file_is_refused(store: LocalEvidenceStore) -> None:
    with pytest.raises(EvidenceEmpty):
        store.put(b"", filename="a.png", uploaded_by="ent-001")


@pytest.mark.parametrize(
    ("data", "filename", "expected"),
    [
        (png(), "照片.png", EvidenceType.PNG),
        (png(), "2026.11.23 整改照片", EvidenceType.PNG),
        (png(), "IMG_0001.PNG", EvidenceType.PNG),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "现场.jpeg", EvidenceType.JPEG),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "现场.webp", EvidenceType.WEBP),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "验收报告.pdf", EvidenceType.PDF),
        (word_document(), "验收记录.docx", EvidenceType.DOCX),
        (office_zip(XLSX_MAIN), "整改台账.xlsx", EvidenceType.XLSX),
    ],
)
def test_allowed_types_are_known_by_their_content(
    store: LocalEvidenceStore, data: bytes, filename: str, expected: EvidenceType
) -> None:
    assert store.put(data, filename=filename, uploaded_by="ent-001").file.content_type is expected


@pytest.mark.parametrize(
    ("data", "filename", "detected", "extension"),
    [
        (b"just some text\n", "照片.png", None, ".png"),
        (EXE, "tool.exe", None, ".exe"),
        (EXE, "照片.jpg", None, ".jpg"),
        (office_zip(DOCM_MAIN), "宏.docx", None, ".docx"),
        (b"PK\x03\x04 not really a zip", "a.docx", None, ".docx"),
        (png(), "报告.pdf", EvidenceType.PNG, ".pdf"),
        (png(), "照片.png.exe", EvidenceType.PNG, ".exe"),
    ],
)
def test_other_types_and_disagreeing_extensions_are_refused(
    store: LocalEvidenceStore, data: bytes, filename: str, detected: EvidenceType | None, extension: str
) -> None:
    with pytest.raises(EvidenceTypeNotAllowed) as refused:
        store.put(data, filename=filename, uploaded_by="ent-001")
    assert refused.value.detected is detected
    assert refused.value.extension == extension
    assert stored_files(store) == []


def test_file_names_are_kept_as_names_never_paths() -> None:
    assert clean_filename("../../etc/passwd") == "passwd"
    assert clean_filename("C:\\Users\\王强\\整改照片.jpg") == "整改照片.jpg"
    assert clean_filename("a\x00b\n.png") == "ab.png"
    assert clean_filename("") == "evidence"
    long = clean_filename("长" * 300 + ".pdf")
    assert len(long) == 200
    assert long.endswith(".pdf")


def test_refs() -> None:
    sha256 = hashlib.sha256(b"x").hexdigest()
    assert parse_ref(f"sha256:{sha256}") == sha256
    assert parse_ref(f"sha256:{sha256.upper()}") is None
    assert parse_ref("sha256:4f2a9c0d") is None
    assert parse_ref(sha256) is None
