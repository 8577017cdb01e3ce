"""台账 and 调度表 as Excel downloads: written to a temporary file row by row, then streamed in chunks."""

import tempfile
from collections.abc import Callable
from datetime import date, datetime
from typing import IO, Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from sqlmodel import Session

from api.deps import CurrentActor, Day, EngineDep, HazardFilterDep, SettingsDep
from contracts.clock import CHINA_TZ, china_date
from ledgers import queries, xlsx

router = APIRouter(prefix="/ledgers", tags=["ledgers"])

# The district named in every title; the same one settings.district_code numbers hazards for.

XLSX_RESPONSE: dict[int | str, dict[str, object]] = {
    200: {"content": {xlsx.MEDIA_TYPE: {}}, "description": "the workbook, streamed"}
}


def download(name: str, write: Callable[[IO[bytes]], object]) -> StreamingResponse:
    """Writes the workbook to an anonymous temporary file (write-only workbooks need a file) and streams it."""
    # Not a `with` block: the response owns the file from here, and xlsx.chunks closes it once sent.
    out = tempfile.TemporaryFile()  # noqa: SIM115
    try:
        write(out)
    except BaseException:
        out.close()
        raise
    fallback = "ledger.xlsx"
    return StreamingResponse(
        xlsx.chunks(out),
        media_type=xlsx.MEDIA_TYPE,
        headers={"Content-Disposition": f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name)}"},
    )


def now_and_today() -> tuple[datetime, date]:
    now = datetime.now(CHINA_TZ)
    return now, china_date(now)


@router.get("/rectification.xlsx", summary="重大隐患督改台账 (Excel; the list's filters)", responses=XLSX_RESPONSE)
def rectification_ledger(
    engine: EngineDep,
    actor: CurrentActor,
    settings: SettingsDep,
    where: HazardFilterDep,
    version: Literal["department", "enterprise"] = "department",
) -> StreamingResponse:
    now, today = now_and_today()

    def write(out: IO[bytes]) -> int:
        with Session(engine) as session:
            rows = queries.rectification_rows(session=session, actor=actor, where=where, now=now)
            return xlsx.write_rectification(out, rows, version=version, district=settings.district_name, as_of=today)

    suffix = "（企业版）" if version == "enterprise" else ""
    return download(f"重大隐患督改台账{suffix}_{today:%Y%m%d}.xlsx", write)


@router.get("/suspension.xlsx", summary="责令停产整顿台账 (Excel; the list's filters)", responses=XLSX_RESPONSE)
def suspension_ledger(
    engine: EngineDep, actor: CurrentActor, settings: SettingsDep, where: HazardFilterDep
) -> StreamingResponse:
    now, today = now_and_today()

    def write(out: IO[bytes]) -> int:
        with Session(engine) as session:
            rows = queries.suspension_rows(session=session, actor=actor, where=where, now=now)
            return xlsx.write_suspension(out, rows, district=settings.district_name, as_of=today)

    return download(f"责令停产整顿台账_{today:%Y%m%d}.xlsx", write)


@router.get(
    "/dispatch.xlsx",
    summary="调度表 (cumulative progress up to as_of, per street or department)",
    responses=XLSX_RESPONSE,
)
def dispatch_report(
    engine: EngineDep,
    actor: CurrentActor,
    settings: SettingsDep,
    where: HazardFilterDep,
    by: Literal["street", "department"] = "street",
    as_of: Annotated[Day | None, Query(description="截至 this day (China); today when absent")] = None,
) -> StreamingResponse:
    now, today = now_and_today()
    day = as_of or today
    with Session(engine) as session:
        lines = queries.dispatch_lines(session=session, actor=actor, where=where, by=by, as_of=day, now=now)
    filed_by = "街道" if by == "street" else "部门"

    def write(out: IO[bytes]) -> None:
        xlsx.write_dispatch(out, lines, by=by, district=settings.district_name, as_of=day)

    return download(f"调度表（{filed_by}）_截至{day:%Y%m%d}.xlsx", write)
