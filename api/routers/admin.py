"""The committee office's settings: the escalation policy and the official calendar.

Everyone signed in may read both (officials need the basis of every deadline); only the committee office writes.
"""

import asyncio
from datetime import date, datetime
from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, Path, Query, status
from fastapi.concurrency import run_in_threadpool
from pydantic import Field, StringConstraints
from sqlalchemy import Engine
from sqlmodel import Session
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from api.deps import CurrentActor, EngineDep, TemporalDep, get_actor
from api.errors import Problem
from contracts.base import Model, Text
from contracts.clock import CHINA_TZ
from contracts.deadlines import RECOMPUTE_DEADLINES_SIGNAL, PolicyRules
from contracts.enums import ROLE_LABELS, Industry, Role
from contracts.errors import ErrorType
from contracts.hazard import Actor, workflow_id
from readmodel import admin_queries
from readmodel.admin_queries import (
    CalendarOverridePublic,
    CalendarPublic,
    PolicyVersionPublic,
    PolicyVersionsPublic,
)
from workcalendar import YearOverride

log = structlog.get_logger("api.admin")

router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Depends(get_actor)])

# Years before the service existed need no calendar; the bound keeps a typo from entering year 20027.
FIRST_YEAR = 2000
LAST_YEAR = 2100
# The calendar page shows these years, plus every year overridden and two years ahead of today.
SHOWN_FROM = 2020
SHOWN_AHEAD = 2
# Signals in flight at once when the calendar changes: enough to get through thousands of open hazards in
# seconds, few enough not to crowd out the updates officials are sending at the same time.
SIGNAL_CONCURRENCY = 20

Year = Annotated[int, Path(ge=FIRST_YEAR, le=LAST_YEAR, description="calendar year, e.g. 2027")]
Note = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]


def committee_office(actor: CurrentActor) -> Actor:
    if actor.role is not Role.COMMITTEE_OFFICE:
        raise Problem(
            403,
            ErrorType.ROLE_FORBIDDEN.value,
            f"「{ROLE_LABELS[actor.role]}」角色无权修改，策略和工作日历由区安委办维护",
        )
    return actor


CommitteeOffice = Annotated[Actor, Depends(committee_office)]


class PolicyUpdate(Model):
    rules: PolicyRules
    industry_overrides: dict[Industry, PolicyRules] = Field(default_factory=dict)
    note: Note | None = Field(default=None, description="why this version, e.g. the document it follows")


class CalendarYearUpdate(Model):
    holidays: list[date] = Field(
        default_factory=list, max_length=366, description="days off that would otherwise be Monday-Friday"
    )
    workdays: list[date] = Field(
        default_factory=list, max_length=366, description="make-up working days (调休) on a weekend"
    )
    label: Text | None = Field(default=None, description="the notice entered, e.g. 国办发明电〔2026〕7号")


class CalendarSaved(Model):
    override: CalendarOverridePublic
    hazards_signalled: int = Field(description="open hazards told to count their pending deadlines again")


def invalid(errors: list[dict[str, str]]) -> Problem:
    detail = "；".join(f"{e['field']}：{e['message']}" for e in errors)
    return Problem(422, ErrorType.INVALID_PAYLOAD.value, detail, errors=errors)


def ladder_errors(field: str, rules: PolicyRules) -> list[dict[str, str]]:
    """The ladder must climb: a summons after the letter, the listing or circular after the summons (the
    contract itself keeps the letter at least 1 WD after the deadline)."""
    errors = []
    if rules.summons_wd_after <= rules.notice_letter_wd_after:
        errors.append({"field": f"{field}.summons_wd_after", "message": "约谈时限须晚于函告时限"})
    if rules.listing_wd_after <= rules.summons_wd_after:
        errors.append({"field": f"{field}.listing_wd_after", "message": "挂牌督办（通报）时限须晚于约谈时限"})
    return errors


@router.get("/policy", summary="现行督办策略 (the policy in force for new hazards)")
def current_policy(engine: EngineDep) -> PolicyVersionPublic:
    with Session(engine) as session:
        return admin_queries.current_policy(session=session)


@router.get("/policy/versions", summary="督办策略历次版本 (every version, newest first)")
def policy_versions(engine: EngineDep) -> PolicyVersionsPublic:
    with Session(engine) as session:
        return admin_queries.policy_versions(session=session)


@router.put(
    "/policy",
    status_code=status.HTTP_201_CREATED,
    summary="发布新版督办策略 (publish a new version; running hazards keep theirs)",
    responses={403: {"description": "only the committee office"}, 422: {"description": "each bad field named"}},
)
def save_policy(body: PolicyUpdate, actor: CommitteeOffice, engine: EngineDep) -> PolicyVersionPublic:
    errors = ladder_errors("rules", body.rules)
    for industry, rules in body.industry_overrides.items():
        errors += ladder_errors(f"industry_overrides.{industry.value}", rules)
    if errors:
        raise invalid(errors)
    with Session(engine) as session:
        saved = admin_queries.save_policy(
            session=session,
            rules=body.rules,
            industry_overrides=body.industry_overrides,
            note=body.note,
            actor_name=actor.name,
            now=datetime.now(CHINA_TZ),
        )
        log.info("policy version saved", version=saved.version, actor_id=actor.id)
        return saved


@router.get("/calendar", summary="工作日历 (overrides entered, and which table each year is counted on)")
def calendar(
    engine: EngineDep,
    from_year: Annotated[int | None, Query(ge=FIRST_YEAR, le=LAST_YEAR)] = None,
    to_year: Annotated[int | None, Query(ge=FIRST_YEAR, le=LAST_YEAR)] = None,
) -> CalendarPublic:
    this_year = datetime.now(CHINA_TZ).year
    years = range(from_year or SHOWN_FROM, (to_year or this_year + SHOWN_AHEAD) + 1)
    with Session(engine) as session:
        return admin_queries.calendar(session=session, years=years)


@router.put(
    "/calendar/{year}",
    summary="录入某年工作日历 (enter a year's official calendar; open hazards recount pending deadlines)",
    responses={
        403: {"description": "only the committee office"},
        422: {"description": "a day outside the year, or both off and working"},
        503: {"description": "saved, but not every open hazard could be told: save again"},
    },
)
async def save_calendar_year(
    year: Year, body: CalendarYearUpdate, actor: CommitteeOffice, engine: EngineDep, temporal: TemporalDep
) -> CalendarSaved:
    errors = [
        {"field": f"{field}.{i}", "message": f"{day.isoformat()} 不在 {year} 年内"}
        for field, days in (("holidays", body.holidays), ("workdays", body.workdays))
        for i, day in enumerate(days)
        if day.year != year
    ]
    both = sorted(set(body.holidays) & set(body.workdays))
    if both:
        days = "、".join(day.isoformat() for day in both)
        errors.append({"field": "workdays", "message": f"{days} 不能既是休息日又是工作日"})
    if errors:
        raise invalid(errors)
    override = YearOverride(
        year=year, holidays=frozenset(body.holidays), workdays=frozenset(body.workdays), version=body.label
    )
    saved, open_ids = await run_in_threadpool(_save_calendar, engine, override, actor.name)
    log.info("calendar year saved", year=year, actor_id=actor.id, open_hazards=len(open_ids))
    return CalendarSaved(override=saved, hazards_signalled=await _signal_recount(temporal, open_ids, year))


def _save_calendar(engine: Engine, override: YearOverride, actor_name: str) -> tuple[CalendarOverridePublic, list[str]]:
    with Session(engine) as session:
        saved = admin_queries.save_calendar_override(
            session=session, override=override, actor_name=actor_name, now=datetime.now(CHINA_TZ)
        )
        return saved, admin_queries.open_hazard_ids(session=session)


async def _signal_recount(temporal: Client, hazard_ids: list[str], year: int) -> int:
    """Tells every open hazard to count its pending deadlines again; answers how many were told."""
    gate = asyncio.Semaphore(SIGNAL_CONCURRENCY)

    async def signal(hazard_id: str) -> bool:
        async with gate:
            try:
                await temporal.get_workflow_handle(workflow_id(hazard_id)).signal(RECOMPUTE_DEADLINES_SIGNAL)
            except RPCError as err:
                # Closed since the read model last heard of it: nothing left to recount.
                if err.status is RPCStatusCode.NOT_FOUND:
                    return False
                raise
            return True

    # Every hazard gets its try even when one fails; saving the year again re-signals them all harmlessly.
    results = await asyncio.gather(*(signal(h) for h in hazard_ids), return_exceptions=True)
    failures = [r for r in results if isinstance(r, BaseException)]
    if failures:
        log.error("calendar saved but hazards not signalled", year=year, failed=len(failures), first=repr(failures[0]))
        raise Problem(
            503,
            "RecountIncomplete",
            f"{year} 年日历已保存，但有 {len(failures)} 个在办隐患未能通知重算期限，请稍后再次保存",
            failed=len(failures),
        )
    return sum(1 for r in results if r is True)
