"""Statistics (统计): found, closed, open, stock and increment... within the caller's jurisdiction."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from sqlmodel import Session

from api.deps import CurrentActor, Day, EngineDep
from api.errors import Problem
from contracts.clock import CHINA_TZ, EARLIEST_DAY, LATEST_DAY, day_start
from readmodel import statistics
from readmodel.queries import scope_condition
from readmodel.statistics import GroupBy, StatisticsPublic, StatisticsQuery

router = APIRouter(prefix="/statistics", tags=["statistics"])


def invalid(field: str, message: str) -> Problem:
    return Problem(422, "InvalidPayload", f"{field}：{message}", errors=[{"field": field, "message": message}])


@router.get(
    "",
    summary="统计 (by street, industry or department, for a window of found dates, as of any instant)",
    responses={422: {"description": "invalid parameters (each named)"}},
)
def hazard_statistics(
    engine: EngineDep,
    actor: CurrentActor,
    group_by: GroupBy = GroupBy.NONE,
    found_from: Annotated[Day | None, Query(description="first found date counted (inclusive)")] = None,
    found_to: Annotated[Day | None, Query(description="found date the window stops before (exclusive)")] = None,
    as_of: Annotated[datetime | None, Query(description="the instant the figures are as of (default: now)")] = None,
    cutoff_year: Annotated[
        int | None, Query(ge=2000, le=2100, description="存量 is found before 1 January of this year (default: now)")
    ] = None,
) -> StatisticsPublic:
    now = datetime.now(CHINA_TZ)
    if as_of is not None and as_of.tzinfo is None:
        raise invalid("as_of", "时间必须带时区，例如 +08:00")
    if as_of is not None and not day_start(EARLIEST_DAY) <= as_of < day_start(LATEST_DAY):
        raise invalid("as_of", f"时间须在 {EARLIEST_DAY.year} 年至 {LATEST_DAY.year} 年之间")
    if found_from is not None and found_to is not None and found_from > found_to:
        raise invalid("found_to", "结束日期不能早于开始日期")
    query = StatisticsQuery(
        group_by=group_by,
        as_of=as_of or now,
        cutoff_year=cutoff_year or now.year,
        found_from=found_from,
        found_to=found_to,
    )
    with Session(engine) as session:
        return statistics.hazard_statistics(session=session, scope=scope_condition(actor), query=query)
