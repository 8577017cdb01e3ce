"""Evidence in an S3 bucket (or any S3-compatible store): <prefix>ab/cd/<sha256> and its metadata in <sha256>.json.

Uploads are staged, hashed and size-checked locally by the base class, then sent whole; downloads are staged to a
local temporary file and verified against their name before any byte is handed out. Credentials come the usual AWS
way (environment variables, shared config, instance role).
"""

import base64
import tempfile
from pathlib import Path
from typing import IO, TYPE_CHECKING

import boto3
from botocore.exceptions import ClientError
from pydantic import ValidationError

from evidence.store import (
    DEFAULT_MAX_SIZE,
    EvidenceCorrupted,
    EvidenceFile,
    EvidenceNotFound,
    EvidenceStore,
    Intake,
    StoredEvidence,
    check_sha256,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}
_ALREADY_THERE = {"412", "PreconditionFailed", "ConditionalRequestConflict"}


def _code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


class S3EvidenceStore(EvidenceStore):
    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        prefix: str = "evidence/",
        max_size: int = DEFAULT_MAX_SIZE,
        client: "S3Client | None" = None,
        staging_dir: Path | None = None,
    ) -> None:
        super().__init__(
            staging_dir=staging_dir or Path(tempfile.gettempdir()) / "xiaohao-evidence-staging", max_size=max_size
        )
        self.bucket = bucket
        self.prefix = prefix
        self.client: S3Client = client or boto3.client("s3", endpoint_url=endpoint_url, region_name=region)

    def key(self, sha256: str) -> str:
        check_sha256(sha256)
        return f"{self.prefix}{sha256[:2]}/{sha256[2:4]}/{sha256}"

    def _meta_key(self, sha256: str) -> str:
        return f"{self.key(sha256)}.json"

    def exists(self, sha256: str) -> bool:
        return self._head(self.key(sha256)) is not None

    def _head(self, key: str) -> dict[str, str] | None:
        """The object's user metadata, or None when there is no such object."""
        try:
            return self.client.head_object(Bucket=self.bucket, Key=key)["Metadata"]
        except ClientError as err:
            if _code(err) in _NOT_FOUND:
                return None
            raise

    def _save(self, intake: Intake, file: EvidenceFile) -> StoredEvidence:
        key = self.key(file.sha256)
        meta_key = self._meta_key(file.sha256)
        # A copy written by this store carries its hash; one overwritten by anything else does not, and is repaired.
        head = self._head(key)
        if head is not None and head.get("sha256") == file.sha256 and self._head(meta_key) is not None:
            return StoredEvidence(file=self._read_meta(file.sha256), created=False)
        # The metadata goes first, so an object that exists always has it; the first upload's metadata is kept.
        if self._head(meta_key) is None:
            try:
                self.client.put_object(
                    Bucket=self.bucket,
                    Key=meta_key,
                    Body=file.model_dump_json(indent=2).encode(),
                    ContentType="application/json",
                    IfNoneMatch="*",
                )
            except ClientError as err:
                if _code(err) not in _ALREADY_THERE:
                    raise
        with intake.path.open("rb") as body:
            self._put_content(key, body, file)
        return StoredEvidence(file=self._read_meta(file.sha256), created=True)

    def _put_content(self, key: str, body: IO[bytes], file: EvidenceFile) -> None:
        self.client.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=body,
            ContentLength=file.size,
            ContentType=file.content_type.value,
            # S3 refuses the upload unless what arrived hashes to this.
            ChecksumSHA256=base64.b64encode(bytes.fromhex(file.sha256)).decode(),
            Metadata={"sha256": file.sha256},
        )

    def _content(self, sha256: str) -> IO[bytes]:
        content = tempfile.TemporaryFile(dir=self._staging_dir)  # noqa: SIM115 - handed out open, closed on error
        try:
            self.client.download_fileobj(self.bucket, self.key(sha256), content)
        except BaseException as err:
            content.close()
            if isinstance(err, ClientError) and _code(err) in _NOT_FOUND:
                raise EvidenceNotFound(sha256) from err
            raise
        content.seek(0)
        return content

    def _read_meta(self, sha256: str) -> EvidenceFile:
        try:
            raw = self.client.get_object(Bucket=self.bucket, Key=self._meta_key(sha256))["Body"].read()
            file = EvidenceFile.model_validate_json(raw)
        except ClientError as err:
            if _code(err) not in _NOT_FOUND:
                raise
            raise EvidenceCorrupted(sha256, "metadata missing") from err
        except (ValueError, ValidationError) as err:
            raise EvidenceCorrupted(sha256, f"metadata unreadable: {err}") from err
        if file.sha256 != sha256:
            raise EvidenceCorrupted(sha256, f"metadata names {file.sha256}")
        return file
