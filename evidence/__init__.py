"""Evidence files (佐证材料): content-addressed storage, checked on the way in and verified on the way out."""

from evidence.s3 import S3EvidenceStore
from evidence.store import (
    DEFAULT_MAX_SIZE,
    EvidenceCorrupted,
    EvidenceEmpty,
    EvidenceError,
    EvidenceFile,
    EvidenceNotFound,
    EvidenceStore,
    EvidenceTooLarge,
    EvidenceType,
    EvidenceTypeNotAllowed,
    LocalEvidenceStore,
    OpenedEvidence,
    StoredEvidence,
    parse_ref,
)

__all__ = [
    "DEFAULT_MAX_SIZE",
    "EvidenceCorrupted",
    "EvidenceEmpty",
    "EvidenceError",
    "EvidenceFile",
    "EvidenceNotFound",
    "EvidenceStore",
    "EvidenceTooLarge",
    "EvidenceType",
    "EvidenceTypeNotAllowed",
    "LocalEvidenceStore",
    "OpenedEvidence",
    "S3EvidenceStore",
    "StoredEvidence",
    "parse_ref",
]
