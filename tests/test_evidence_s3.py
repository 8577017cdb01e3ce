"""The S3 evidence store against a real S3-compatible HTTP endpoint: moto's standalone server on loopback."""

import hashlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import pytest
from moto.server import ThreadedMotoServer

from api.main import evidence_store
from evidence import (
    EvidenceCorrupted,
    EvidenceNotFound,
    EvidenceTooLarge,
    EvidenceType,
    LocalEvidenceStore,
    S3EvidenceStore,
)
from evidence.store import CHUNK_SIZE
from settings import Settings
from tests.test_evidence import png

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def raw(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> "S3Client":
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")


@pytest.fixture
def bucket(raw: "S3Client") -> str:
    name = f"evidence-{uuid.uuid4().hex[:12]}"
    raw.create_bucket(Bucket=name)
    return name


@pytest.fixture
def store(endpoint: str, bucket: str, raw: "S3Client", tmp_path: Path) -> S3EvidenceStore:
    return S3EvidenceStore(bucket, endpoint_url=endpoint, region="us-east-1", staging_dir=tmp_path / "staging")


def read_all(store: S3EvidenceStore, sha256: str) -> bytes:
    opened = store.open(sha256)
    return b"".join(opened.chunks())


def test_put_exists_open_round_trip(store: S3EvidenceStore, raw: "S3Client", bucket: str) -> None:
    data = png()
    sha256 = hashlib.sha256(data).hexdigest()
    assert not store.exists(sha256)

    stored = store.put(data, filename="现场照片.png", uploaded_by="inspector-1")

    assert stored.created
    assert stored.file.sha256 == sha256
    assert store.exists(sha256)
    keys = {item["Key"] for item in raw.list_objects_v2(Bucket=bucket)["Contents"]}
    key = f"evidence/{sha256[:2]}/{sha256[2:4]}/{sha256}"
    assert keys == {key, f"{key}.json"}
    opened = store.open(sha256)
    assert b"".join(opened.chunks()) == data
    assert opened.file == stored.file
    assert opened.file.filename == "现场照片.png"
    assert opened.file.content_type is EvidenceType.PNG
    assert opened.file.size == len(data)
    assert opened.file.uploaded_by == "inspector-1"


def test_same_bytes_are_stored_once_and_keep_first_metadata(
    store: S3EvidenceStore, raw: "S3Client", bucket: str
) -> None:
    data = png()
    first = store.put(data, filename="a.png", uploaded_by="first")
    key = store.key(first.file.sha256)
    modified = raw.head_object(Bucket=bucket, Key=key)["LastModified"]

    again = store.put(data, filename="b.png", uploaded_by="second")

    assert not again.created
    assert again.file == first.file
    assert raw.head_object(Bucket=bucket, Key=key)["LastModified"] == modified
    assert raw.list_objects_v2(Bucket=bucket)["KeyCount"] == 2


def test_oversize_is_refused_while_streaming(endpoint: str, bucket: str, raw: "S3Client", tmp_path: Path) -> None:
    store = S3EvidenceStore(bucket, endpoint_url=endpoint, max_size=CHUNK_SIZE, staging_dir=tmp_path / "staging")
    sent: list[int] = []

    class Upload:
        def read(self, size: int = -1) -> bytes:
            sent.append(size)
            return b"\x89PNG\r\n\x1a\n" + b"\x00" * (CHUNK_SIZE - 8)

    with pytest.raises(EvidenceTooLarge):
        store.put(Upload(), filename="big.png", uploaded_by="inspector-1")  # type: ignore[arg-type]

    assert len(sent) == 2  # cut off at the second chunk of an endless stream
    assert raw.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    assert list((tmp_path / "staging").iterdir()) == []


def test_object_changed_behind_the_store_is_refused(store: S3EvidenceStore, raw: "S3Client", bucket: str) -> None:
    data = png()
    sha256 = store.put(data, filename="a.png", uploaded_by="inspector-1").file.sha256

    raw.put_object(Bucket=bucket, Key=store.key(sha256), Body=png())

    with pytest.raises(EvidenceCorrupted):
        store.open(sha256)
    # The right bytes uploaded again repair it, keeping the first metadata.
    repaired = store.put(data, filename="b.png", uploaded_by="other")
    assert repaired.created
    assert repaired.file.uploaded_by == "inspector-1"
    assert read_all(store, sha256) == data


def test_missing_sha_is_not_found(store: S3EvidenceStore) -> None:
    sha256 = hashlib.sha256(b"never stored").hexdigest()
    assert not store.exists(sha256)
    with pytest.raises(EvidenceNotFound):
        store.open(sha256)


def test_settings_choose_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    assert isinstance(evidence_store(Settings(data_dir=tmp_path)), LocalEvidenceStore)
    chosen = evidence_store(
        Settings(
            data_dir=tmp_path,
            evidence_s3_bucket="xiaohao-evidence",
            evidence_s3_endpoint_url="http://127.0.0.1:9",
            evidence_s3_region="cn-north-1",
        )
    )
    assert isinstance(chosen, S3EvidenceStore)
