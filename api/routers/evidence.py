"""Evidence files: upload (checked while it streams in), and download through the hazard that cites them.

The bytes never enter a workflow: a rectification cites "sha256:<hex>", and a file can only be fetched through a
hazard the caller may see and that cites it, so knowing a hash alone opens nothing.
"""

from typing import TYPE_CHECKING, Annotated
from urllib.parse import quote

import structlog
from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.background import BackgroundTask
from temporalio.client import Client

from api.deps import CurrentActor, TemporalDep
from api.errors import Problem
from api.jurisdiction import require_sees
from api.routers.hazards import HazardId, current_state, handle_for
from contracts.base import Model
from contracts.enums import Action
from contracts.hazard import HazardState
from contracts.policy import may
from evidence import (
    EvidenceCorrupted,
    EvidenceEmpty,
    EvidenceFile,
    EvidenceNotFound,
    EvidenceStore,
    EvidenceTooLarge,
    EvidenceType,
    EvidenceTypeNotAllowed,
    parse_ref,
)
from evidence.store import Intake, clean_filename
from infra.hazard_events import recorded_events

if TYPE_CHECKING:
    # Declared for type checkers only: the library defines it under TYPE_CHECKING.
    from python_multipart.multipart import MultipartCallbacks

log = structlog.get_logger("api.evidence")

router = APIRouter(tags=["evidence"])

FILE_FIELD = "file"
ALLOWED = "、".join(t.label for t in EvidenceType)

UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": [FILE_FIELD],
                    "properties": {FILE_FIELD: {"type": "string", "format": "binary"}},
                }
            }
        },
    }
}


class EvidenceUploaded(Model):
    sha256: str
    ref: str
    filename: str
    content_type: EvidenceType
    size: int


def get_evidence_store(request: Request) -> EvidenceStore:
    # Built once in the lifespan (api.main.evidence_store): local directory or S3, by settings.
    store: EvidenceStore = request.app.state.evidence_store
    return store


EvidenceStoreDep = Annotated[EvidenceStore, Depends(get_evidence_store)]


UploadRefused = EvidenceTooLarge | EvidenceEmpty | EvidenceTypeNotAllowed


def upload_problem(err: UploadRefused) -> Problem:
    if isinstance(err, EvidenceTooLarge):
        mib = err.max_size / (1024 * 1024)
        return Problem(
            413, "EvidenceTooLarge", f"文件超过 {mib:g} MiB 的上限", title="文件过大", max_bytes=err.max_size
        )
    if isinstance(err, EvidenceEmpty):
        return invalid_file("EvidenceEmpty", "文件为空")
    if err.detected is None:
        return Problem(415, "EvidenceTypeNotAllowed", f"只能上传{ALLOWED}", title="文件类型不支持")
    detail = f"文件内容是{err.detected.label}，与文件扩展名 {err.extension} 不符"
    return Problem(415, "EvidenceTypeNotAllowed", detail, title="文件类型不支持")


def invalid_file(code: str, message: str) -> Problem:
    return Problem(422, code, f"{FILE_FIELD}：{message}", errors=[{"field": FILE_FIELD, "message": message}])


class FileField:
    """Receives the multipart body's one `file` part into the intake as it is parsed; other parts are skipped."""

    def __init__(self, intake: Intake) -> None:
        self.intake = intake
        self.filename: str | None = None
        self.complete = False
        self._receiving = False
        self._header_name = b""
        self._header_value = b""
        self._disposition = b""

    def callbacks(self) -> "MultipartCallbacks":
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value_data,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }

    def _part_begin(self) -> None:
        self._receiving = False
        self._disposition = b""

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _header_value_data(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        if self._header_name.strip().lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_name = self._header_value = b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        if options.get(b"name") != FILE_FIELD.encode():
            return
        if self.filename is not None:
            raise invalid_file("InvalidPayload", "一次只能上传一个文件")
        # Browsers send the name as raw UTF-8, which the parser hands back as latin-1 bytes unchanged.
        self.filename = options.get(b"filename", b"").decode("utf-8", errors="replace")
        self._receiving = True

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._receiving:
            self.intake.write(data[start:end])

    def _part_end(self) -> None:
        # Only a closing boundary proves the file arrived whole: the parser takes a cut-off body without complaint.
        if self._receiving:
            self.complete = True
            self._receiving = False


def multipart_boundary(content_type: str | None) -> bytes:
    kind, options = parse_options_header(content_type)
    if kind != b"multipart/form-data" or not options.get(b"boundary"):
        raise Problem(
            415, "NotMultipart", f"请以 multipart/form-data 上传，文件放在 {FILE_FIELD} 字段", title="请求格式不支持"
        )
    return options[b"boundary"]


@router.post(
    "/evidence",
    status_code=status.HTTP_201_CREATED,
    summary="上传佐证材料 (upload a photo or document; cite the answer's `ref` in a rectification)",
    openapi_extra=UPLOAD_BODY,
    responses={
        200: {"description": "these exact bytes were already stored: same sha256"},
        403: {"description": "this role may not upload evidence"},
        413: {"description": "larger than the limit (`max_bytes` in the body)"},
        415: {"description": "not JPEG, PNG, WebP, PDF, .docx or .xlsx by content, or the extension disagrees"},
        422: {"description": "empty file, no `file` field, or a malformed multipart body"},
    },
)
async def upload_evidence(
    request: Request, actor: CurrentActor, store: EvidenceStoreDep, response: Response
) -> EvidenceUploaded:
    # Evidence backs a rectification: the enterprise's, or one made on the spot (立查立改) by whoever reports.
    if not (may(actor.role, Action.REPORT_RECTIFICATION) or may(actor.role, Action.REPORT)):
        raise Problem(403, "RoleForbidden", f"「{actor.role.value}」角色无权上传佐证材料")
    boundary = multipart_boundary(request.headers.get("content-type"))
    try:
        with store.receive() as intake:
            field = FileField(intake)
            parser = MultipartParser(boundary, field.callbacks())
            # Parsing writes the file to disk, so it runs off the event loop; the limit stops it mid-stream.
            async for chunk in request.stream():
                await run_in_threadpool(parser.write, chunk)
            filename = field.filename
            if filename is None:
                raise invalid_file("InvalidPayload", "必填")
            if not field.complete:
                raise invalid_file("InvalidPayload", "上传不完整，请重新上传")
            stored = await run_in_threadpool(store.commit, intake, filename=filename, uploaded_by=actor.id)
    except FormParserError as err:
        raise Problem(422, "InvalidPayload", "上传内容不是合法的 multipart/form-data") from err
    except (EvidenceTooLarge, EvidenceEmpty, EvidenceTypeNotAllowed) as err:
        raise upload_problem(err) from err
    if not stored.created:
        response.status_code = status.HTTP_200_OK
    file = stored.file
    log.info("evidence uploaded", sha256=file.sha256, size=file.size, created=stored.created, actor=actor.id)
    # The caller's own file name: the stored one may be another uploader's, who sent the same bytes first.
    return EvidenceUploaded(
        sha256=file.sha256,
        ref=file.ref,
        filename=clean_filename(filename),
        content_type=file.content_type,
        size=file.size,
    )


def cited(state: HazardState) -> set[str]:
    rectifications = [state.rectification, state.report.rectified_on_spot]
    return {ref for r in rectifications if r is not None for ref in r.evidence}


async def cites(temporal: Client, state: HazardState, ref: str) -> bool:
    if ref in cited(state):
        return True
    # A rectification the review sent back is replaced in the state, but its evidence stays part of the record.
    events = await recorded_events(temporal, state.hazard_id)
    return any(
        ref in event.payload.get("evidence", ()) for event in events if event.action is Action.REPORT_RECTIFICATION
    )


def evidence_not_found() -> Problem:
    return Problem(404, "EvidenceNotFound", "该隐患没有这份佐证材料", title="佐证材料不存在")


def content_disposition(file: EvidenceFile) -> str:
    # The plain name is an ASCII stand-in for old clients; filename* carries the real (often Chinese) one.
    fallback = f"{file.sha256[:16]}{file.content_type.extensions[0]}"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(file.filename, safe='')}"


@router.get(
    "/hazards/{hazard_id}/evidence/{sha256}",
    summary="下载佐证材料 (download evidence a hazard cites; verified against its hash first)",
    response_class=StreamingResponse,
    responses={
        200: {"content": {t.value: {} for t in EvidenceType}, "description": "the file, exactly as uploaded"},
        404: {"description": "no such hazard, not visible to the caller, or the hazard does not cite this file"},
        500: {"description": "EvidenceCorrupted: the stored bytes no longer match their hash (nothing is sent)"},
    },
)
async def download_evidence(
    hazard_id: HazardId,
    sha256: str,
    actor: CurrentActor,
    temporal: TemporalDep,
    store: EvidenceStoreDep,
) -> StreamingResponse:
    # Jurisdiction from the workflow's own state, as GET /hazards/{id} does: the read model may lag a new report.
    handle = handle_for(temporal, hazard_id)
    state = await current_state(handle, hazard_id)
    require_sees(actor, state)
    ref = f"sha256:{sha256}"
    if parse_ref(ref) is None or not await cites(temporal, state, ref):
        raise evidence_not_found()
    try:
        evidence = await run_in_threadpool(store.open, sha256)
    except EvidenceNotFound as err:
        log.warning("cited evidence missing from the store", hazard_id=hazard_id, sha256=sha256)
        raise evidence_not_found() from err
    except EvidenceCorrupted as err:
        log.error("evidence corrupted", hazard_id=hazard_id, sha256=sha256, reason=err.reason)
        raise Problem(
            500, "EvidenceCorrupted", "佐证材料校验失败，文件可能已损坏，请联系运维人员", title="佐证材料已损坏"
        ) from err
    file = evidence.file
    return StreamingResponse(
        evidence.chunks(),
        media_type=file.content_type.value,
        headers={
            "Content-Length": str(file.size),
            "Content-Disposition": content_disposition(file),
            "ETag": f'"{file.sha256}"',
            "Cache-Control": "private",
            "X-Content-Type-Options": "nosniff",
        },
        background=BackgroundTask(evidence.close),
    )
