"""The supervisors' pages (zh-CN), rendered on the server under /ui.

Every page reads through the API's own pieces: the caller from `CurrentActor` (the session cookie becomes a
bearer token in web.session), lists through readmodel.queries' jurisdiction and filters, a hazard from its
workflow with api.jurisdiction's rules (404 outside the reader's jurisdiction, phones masked where the API masks
them). Actions are not taken here: the forms post to the API itself (static/app.js).
"""

import inspect
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from pydantic import BaseModel, ValidationError, create_model
from sqlalchemy import Engine
from sqlmodel import Session, select

from api.auth import InvalidToken, SigningKeysUnavailable, TokenVerifier
from api.deps import CurrentActor, EngineDep, TemporalDep, hazard_filter
from api.errors import Problem, field_errors
from api.jurisdiction import for_reader, require_sees
from api.routers.escalations import letter_url
from api.routers.hazards import current_state, handle_for
from contracts.clock import CHINA_TZ, EARLIEST_DAY, LATEST_DAY, china_date, day_start
from contracts.deadlines import DEADLINE_OWNERS, Deadline, Rag, Rung
from contracts.enums import Industry, Role, Source, Stage
from contracts.hazard import Actor, HazardState
from evidence import parse_ref
from readmodel import escalation_queries, queries
from readmodel.models import EscalationRow, Hazard, HazardEventPublic
from readmodel.queries import HazardFilter, scope_condition
from readmodel.statistics import GroupBy, StatisticsQuery, hazard_statistics
from web import charts, labels
from web.forms import defaults, forms_for
from web.queries import Sort, list_page, open_matrix, open_trend
from web.session import COOKIE, forget, keep
from workflows.lifecycle import IMPORT_ROLES, SYSTEM

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"
HOME = "/ui/board"
PAGE_SIZE = 50
TREND_DAYS = 90

environment = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
environment.globals.update(
    stage_label=labels.stage_label,
    action_label=labels.action_label,
    role_label=labels.role_label,
    deadline_label=labels.deadline_label,
    rung_label=labels.rung_label,
    source_labels=labels.SOURCE_LABELS,
    rag_labels=labels.RAG_LABELS,
    rag_meanings=labels.RAG_MEANINGS,
    level_labels=labels.LEVEL_LABELS,
    owner_labels=labels.OWNER_LABELS,
    control_labels=labels.CONTROL_LABELS,
    decision_labels=labels.DECISION_LABELS,
    Rag=Rag,
    system_actor=SYSTEM.id,
    # The same table as the imports API: who may upload a ledger.
    may_import=lambda actor: actor.role in IMPORT_ROLES,
)
environment.filters.update(when=labels.when, day=labels.day, yuan=labels.yuan, wan=labels.ten_thousand_yuan)
templates = Jinja2Templates(env=environment)


def render(request: Request, name: str, actor: Actor | None, status: int = 200, **context: Any) -> HTMLResponse:
    settings = request.app.state.settings
    return templates.TemplateResponse(
        request,
        name,
        {"actor": actor, "district": settings.district_name, "path": request.url.path, **context},
        status_code=status,
    )


def secure(request: Request) -> bool:
    return request.url.scheme == "https"


def problem_page(request: Request, problem: Problem) -> Response:
    """A problem as a page: not logged in (or the token expired) goes to the login page, anything else is shown
    with the API's own status and Chinese words."""
    if problem.status == 401:
        expired = COOKIE in request.cookies
        back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        query = {"next": back, **({"expired": "1"} if expired else {})}
        response = RedirectResponse(f"/ui/login?{urlencode(query)}", status_code=303)
        if expired:
            forget(response, secure=secure(request))
        return response
    return render(request, "error.html", None, status=problem.status, problem=problem)


class PageRoute(APIRoute):
    """Pages answer problems as pages (the API's routes answer them as problem+json)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page(request: Request) -> Response:
            try:
                return await handler(request)
            except Problem as problem:
                return problem_page(request, problem)

        return page


router = APIRouter(route_class=PageRoute, include_in_schema=False)


# --- logging in ------------------------------------------------------------------------------------------------


def safe_next(target: str | None) -> str:
    """Only a page of this UI: never an address on another site (//evil.example)."""
    if target and target.startswith("/ui/") and not target.startswith("//"):
        return target
    return HOME


@router.get("/")
def root() -> RedirectResponse:
    return RedirectResponse(HOME, status_code=303)


@router.get("/ui")
@router.get("/ui/")
def ui_root() -> RedirectResponse:
    return RedirectResponse(HOME, status_code=303)


@router.get("/ui/login")
def login_page(request: Request, next: str | None = None, expired: bool = False) -> HTMLResponse:
    notice = "登录已过期或凭证无效，请重新登录" if expired else None
    return render(request, "login.html", None, next=safe_next(next), notice=notice, error=None)


@router.post("/ui/login")
def login(request: Request, token: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "") -> Response:
    tokens: TokenVerifier = request.app.state.tokens
    target = safe_next(next)
    error = None
    status = 401
    token = token.strip()
    if not token:
        error = "请粘贴登录凭证"
    else:
        try:
            tokens.verify(token)
        except InvalidToken:
            error = "登录凭证无效或已过期，请向管理员重新申领"
        except SigningKeysUnavailable:
            error, status = "统一身份认证平台暂时无法访问，请稍后重试", 503
    if error is not None:
        return render(request, "login.html", None, status=status, next=target, notice=None, error=error)
    response = RedirectResponse(target, status_code=303)
    keep(response, token, secure=secure(request))
    return response


@router.post("/ui/logout")
def logout(request: Request) -> RedirectResponse:
    response = RedirectResponse("/ui/login", status_code=303)
    forget(response, secure=secure(request))
    return response


# --- the board -------------------------------------------------------------------------------------------------


def list_url(**filters: Any) -> str:
    """The list page filtered as given: the API's filter names, so the ledger export can take the same."""
    kept = {name: str(value) for name, value in filters.items() if value is not None and value != ""}
    return f"/ui/hazards?{urlencode(kept)}" if kept else "/ui/hazards"


environment.globals["list_url"] = list_url

RAG_SLICES = ((Rag.RED, "rag-red"), (Rag.YELLOW, "rag-yellow"), (Rag.GREEN, "rag-green"))


@router.get("/ui/board")
def board(request: Request, actor: CurrentActor, engine: EngineDep) -> HTMLResponse:
    now = datetime.now(CHINA_TZ)
    today = china_date(now)
    with Session(engine) as session:
        streets = open_matrix(session=session, actor=actor, row=Hazard.street, column=Hazard.industry, now=now)
        departments = open_matrix(session=session, actor=actor, row=Hazard.department, column=None, now=now)
        trend = open_trend(session=session, actor=actor, first=today - timedelta(days=TREND_DAYS - 1), last=today)
    rag_chart = charts.donut(
        [
            charts.Slice(f"{labels.RAG_LABELS[rag]}（{labels.RAG_MEANINGS[rag]}）", streets.total.rag[rag], css)
            for rag, css in RAG_SLICES
        ],
        title="在办隐患红黄绿分布",
        centre_label="在办隐患",
    )
    trend_chart = charts.trend(trend, title=f"近 {TREND_DAYS} 天在办隐患数量走势")
    return render(
        request,
        "board.html",
        actor,
        streets=streets,
        departments=departments,
        rag_chart=rag_chart,
        trend_chart=trend_chart,
        now=now,
    )


# --- the list --------------------------------------------------------------------------------------------------

# The API's list filters (api.deps.hazard_filter), checked by the same declarations: an HTML form sends empty
# fields for "any", which the API would refuse, so the page drops them and validates the rest the API's way.
FILTER_PARAMETERS = inspect.signature(hazard_filter).parameters
FilterQuery: type[BaseModel] = create_model(  # type: ignore[call-overload]
    "FilterQuery", **{name: (p.annotation, p.default) for name, p in FILTER_PARAMETERS.items()}
)


def filters_from(values: dict[str, str]) -> HazardFilter:
    """The HazardFilter the API would make of these query parameters; ValidationError as the API would refuse."""
    checked = FilterQuery.model_validate(values)
    return hazard_filter(**dict(checked))


def distinct(session: Session, actor: Actor, column: Any) -> list[str]:
    scope = scope_condition(actor)
    query = select(column).distinct().order_by(column)
    if scope is not None:
        query = query.where(scope)
    return [str(value) for value in session.exec(query).all()]


@router.get("/ui/hazards")
def hazard_list(request: Request, actor: CurrentActor, engine: EngineDep) -> HTMLResponse:
    now = datetime.now(CHINA_TZ)
    given = {name: value.strip() for name, value in request.query_params.items() if value.strip()}
    chosen = {name: value for name, value in given.items() if name in FILTER_PARAMETERS}
    errors: list[dict[str, str]] = []
    try:
        where = filters_from(chosen)
    except ValidationError as err:
        errors = field_errors(err.errors())
        where = HazardFilter()
        chosen = {}
    sort = Sort.REPORTED if given.get("sort") == Sort.REPORTED.value else Sort.DEADLINE
    page = int(given["page"]) if given.get("page", "").isdigit() and int(given["page"]) > 0 else 1
    with Session(engine) as session:
        found = list_page(
            session=session,
            actor=actor,
            where=where,
            now=now,
            sort=sort,
            offset=(page - 1) * PAGE_SIZE,
            limit=PAGE_SIZE,
        )
        streets = distinct(session, actor, Hazard.street)
        departments = distinct(session, actor, Hazard.department)
    pages = max(1, -(-found.count // PAGE_SIZE))
    query = urlencode(chosen)
    version = "enterprise" if actor.role is Role.ENTERPRISE else "department"
    ledger_query = urlencode({**chosen, "version": version})
    return render(
        request,
        "list.html",
        actor,
        hazards=found.data,
        count=found.count,
        page=page,
        pages=pages,
        sort=sort.value,
        chosen=chosen,
        errors=errors,
        page_url=lambda number: list_url(**chosen, sort=sort.value, page=number),
        rectification_ledger=f"/ledgers/rectification.xlsx?{ledger_query}",
        suspension_ledger=f"/ledgers/suspension.xlsx?{query}" if query else "/ledgers/suspension.xlsx",
        stages=list(Stage),
        industries=list(Industry),
        sources=list(Source),
        streets=streets,
        departments=departments,
        countdown=lambda h: labels.countdown(h.next_deadline, now, overdue=h.rag == Rag.RED),
    )


# --- one hazard ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeadlineView:
    deadline: Deadline
    owner: str
    countdown: str
    colour: str
    rungs: list[tuple[str, datetime, bool]]


def deadline_views(state: HazardState, now: datetime) -> list[DeadlineView]:
    views = []
    for deadline in state.deadlines:
        overdue = any(r.rung is Rung.OVERDUE and r.fired_at is not None for r in deadline.rungs)
        text, colour = labels.countdown(deadline.due, now, overdue=overdue)
        views.append(
            DeadlineView(
                deadline=deadline,
                owner=labels.OWNER_LABELS[DEADLINE_OWNERS[deadline.kind]],
                countdown=text,
                colour=colour,
                rungs=[(labels.rung_label(r.rung), r.at, r.fired_at is not None) for r in deadline.rungs],
            )
        )
    return views


def evidence_links(state: HazardState) -> list[tuple[str, str]]:
    """(short name, download URL) of every file the current rectification cites; served by the evidence API."""
    cited = [r for r in (state.report.rectified_on_spot, state.rectification) if r is not None]
    links = []
    for ref in dict.fromkeys(ref for r in cited for ref in r.evidence):
        sha256 = parse_ref(ref)
        if sha256 is not None:
            links.append((sha256[:12], f"/hazards/{state.hazard_id}/evidence/{sha256}"))
    return links


def read_history(engine: Engine, hazard_id: str) -> tuple[list[HazardEventPublic], list[EscalationRow]]:
    with Session(engine) as session:
        events = queries.hazard_events(session=session, hazard_id=hazard_id).data
        escalations = escalation_queries.hazard_escalations(session=session, hazard_id=hazard_id)
        return events, escalations


@router.get("/ui/hazards/{hazard_id}")
async def hazard_page(
    request: Request, hazard_id: str, actor: CurrentActor, temporal: TemporalDep, engine: EngineDep
) -> HTMLResponse:
    state = await current_state(handle_for(temporal, hazard_id), hazard_id)
    require_sees(actor, state)
    shown = for_reader(actor, state)
    events, escalations = await run_in_threadpool(read_history, engine, hazard_id)
    now = datetime.now(CHINA_TZ)
    forms = forms_for(actor, state)
    return render(
        request,
        "hazard.html",
        actor,
        hazard=shown,
        events=[(event, labels.payload_lines(event.payload, actor)) for event in reversed(events)],
        escalations=[(row, letter_url(row.id) if row.letter and row.id is not None else None) for row in escalations],
        deadlines=deadline_views(state, now),
        evidence=evidence_links(shown),
        forms=[(form, defaults(form, state, china_date(now))) for form in forms],
        listed=shown.listing is not None and shown.listing.delisted_at is None,
        now=now,
    )


# --- statistics ------------------------------------------------------------------------------------------------

GROUP_LABELS = {GroupBy.STREET: "街道", GroupBy.INDUSTRY: "行业领域", GroupBy.DEPARTMENT: "行业部门"}


def parse_day(values: dict[str, str], name: str, errors: dict[str, str]) -> date | None:
    if not values.get(name):
        return None
    try:
        day = date.fromisoformat(values[name])
    except ValueError:
        errors[name] = "日期格式不正确，应为 YYYY-MM-DD"
        return None
    if not EARLIEST_DAY <= day <= LATEST_DAY:
        errors[name] = f"日期须在 {EARLIEST_DAY.year} 年至 {LATEST_DAY.year} 年之间"
        return None
    return day


@router.get("/ui/statistics")
def statistics_page(request: Request, actor: CurrentActor, engine: EngineDep) -> HTMLResponse:
    now = datetime.now(CHINA_TZ)
    given = {name: value.strip() for name, value in request.query_params.items() if value.strip()}
    errors: dict[str, str] = {}
    group_by = next((g for g in GROUP_LABELS if g.value == given.get("group_by")), GroupBy.STREET)
    found_from = parse_day(given, "found_from", errors)
    found_to = parse_day(given, "found_to", errors)
    as_of_day = parse_day(given, "as_of", errors)
    if found_from and found_to and found_from > found_to:
        errors["found_to"] = "结束日期不能早于开始日期"
    cutoff_year = now.year
    if "cutoff_year" in given:
        text = given["cutoff_year"]
        if text.isdigit() and 2000 <= int(text) <= 2100:
            cutoff_year = int(text)
        else:
            errors["cutoff_year"] = "应为 2000 至 2100 之间的年份"
    if errors:
        found_from = found_to = as_of_day = None
    # 截至某日 means to the end of that day.
    as_of = day_start(as_of_day + timedelta(days=1)) - timedelta(microseconds=1) if as_of_day else now
    with Session(engine) as session:
        result = hazard_statistics(
            session=session,
            scope=scope_condition(actor),
            query=StatisticsQuery(
                group_by=group_by,
                as_of=as_of,
                cutoff_year=cutoff_year,
                found_from=found_from,
                # The page's window includes its last day; StatisticsQuery's found_to is the day it stops before.
                found_to=found_to + timedelta(days=1) if found_to else None,
            ),
        )
    legend = [
        charts.Slice("已销号", 0, "stat-closed"),
        charts.Slice("在办（未逾期）", 0, "stat-open"),
        charts.Slice("在办（已逾期）", 0, "rag-red"),
    ]
    bars = [
        (
            row.key or "",
            [
                charts.Slice("已销号", row.closed, "stat-closed"),
                charts.Slice("在办（未逾期）", row.open - row.overdue, "stat-open"),
                charts.Slice("在办（已逾期）", row.overdue, "rag-red"),
            ],
        )
        for row in result.rows
    ]
    chart = charts.stacked_bars(bars, title=f"按{GROUP_LABELS[group_by]}统计：销号与在办", legend=legend)
    return render(
        request,
        "statistics.html",
        actor,
        result=result,
        chart=chart,
        group_by=group_by,
        group_labels=GROUP_LABELS,
        values=given,
        errors=errors,
        as_of=as_of,
        cutoff_year=cutoff_year,
    )


# --- imports ---------------------------------------------------------------------------------------------------


@router.get("/ui/imports")
def imports_page(request: Request, actor: CurrentActor) -> HTMLResponse:
    return render(request, "imports.html", actor)
