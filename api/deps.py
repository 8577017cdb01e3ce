from collections.abc import Callable, Collection
from datetime import date
from typing import Annotated

from fastapi import Depends, Header, Path, Query, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import Field
from sqlalchemy import Engine
from temporalio.client import Client

from api.auth import InvalidToken, SigningKeysUnavailable, TokenVerifier
from api.errors import Problem, temporal_unavailable
from contracts.clock import EARLIEST_DAY, LATEST_DAY
from contracts.deadlines import Rag
from contracts.enums import ROLE_LABELS, Industry, Role, Source, Stage
from contracts.errors import ErrorType
from contracts.hazard import Actor
from infra.logging import bind_log_context
from infra.temporal import TemporalConnection, TemporalUnreachable
from readmodel.queries import HazardFilter
from settings import Settings

# A day given in a query string, within the days this system takes (contracts.clock): out of range is a 422.
Day = Annotated[date, Field(ge=EARLIEST_DAY, le=LATEST_DAY)]

# Row ids and offsets no larger than the read model's integer columns hold (PostgreSQL integer): beyond is a 422,
# not a database error.
MAX_ROW = 2**31 - 1
Offset = Annotated[int, Query(ge=0, le=MAX_ROW)]
RowId = Annotated[int, Path(ge=1, le=MAX_ROW)]

bearer = HTTPBearer(auto_error=False, description="JWT issued by `python cli.py token` or the identity platform")


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


async def get_temporal(request: Request) -> Client:
    connection: TemporalConnection = request.app.state.temporal
    try:
        return await connection.client()
    except TemporalUnreachable as err:
        raise temporal_unavailable() from err


def get_actor(request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Actor:
    if credentials is None:
        raise Problem(401, "Unauthenticated", "请求未携带登录凭证（Authorization: Bearer <token>）")
    tokens: TokenVerifier = request.app.state.tokens
    try:
        actor = tokens.verify(credentials.credentials)
    except InvalidToken as err:
        raise Problem(401, "InvalidToken", "登录凭证无效或已过期，请重新登录") from err
    except SigningKeysUnavailable as err:
        raise Problem(503, "IdentityPlatformUnavailable", "统一身份认证平台暂时无法访问，请稍后重试") from err
    # The audit record names the same actor without checking the token a second time (audit.middleware).
    request.state.actor = actor
    return actor


async def current_actor(request: Request, actor: Annotated[Actor, Depends(get_actor)]) -> Actor:
    """The verified actor. Its id, and the hazard the path names, go on every later log line of the request:
    async, so the binding is made in the request's own context and not in a worker thread's copy of it."""
    bind_log_context(actor_id=actor.id, hazard_id=request.path_params.get("hazard_id"))
    return actor


async def known_single_query_parameters(request: Request) -> None:
    """Only the query parameters the route declares, each once. An unknown one is refused, not ignored: a filter
    misspelt (`?stree=...`) would otherwise answer with everything, as if it had filtered. One sent twice
    (`?q=a&q=b`) is refused, not quietly read as its last value (both found by tests/test_api_fuzz.py)."""
    route = request.scope.get("route")
    declared = declared_query_parameters(route.dependant) if isinstance(route, APIRoute) else frozenset()
    errors = [
        {"field": key, "message": "不是此接口的查询参数" if key not in declared else "只能出现一次"}
        for key in sorted(set(request.query_params))
        if key not in declared or len(request.query_params.getlist(key)) > 1
    ]
    if errors:
        raise Problem(
            422,
            "InvalidPayload",
            f"查询参数有误：{'、'.join(error['field'] for error in errors)}",
            errors=errors,
        )


def declared_query_parameters(dependant: Dependant) -> frozenset[str]:
    """The query parameters of a route (its dependant) and of every dependency it uses."""
    own = frozenset(param.alias for param in dependant.query_params)
    return own.union(*(declared_query_parameters(sub) for sub in dependant.dependencies))


def idempotency_key(
    key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=128,
            description="Repeating a request with the same key returns the first answer instead of acting twice",
        ),
    ] = None,
) -> str | None:
    return key


def hazard_filter(
    stage: Stage | None = None,
    street: str | None = None,
    industry: Industry | None = None,
    department: str | None = None,
    source: Source | None = None,
    q: Annotated[str | None, Query(max_length=100, description="text in title, enterprise, id or location")] = None,
    rag: Rag | None = None,
    overdue: Annotated[bool | None, Query(description="open with its deadline passed")] = None,
    listed: Annotated[bool | None, Query(description="挂牌督办 and not delisted")] = None,
    found_from: Annotated[Day | None, Query(description="found on or after this day (China)")] = None,
    found_to: Annotated[Day | None, Query(description="found on or before this day (China)")] = None,
) -> HazardFilter:
    return HazardFilter(
        stage=stage,
        street=street,
        industry=industry,
        department=department,
        source=source,
        text=q,
        rag=rag,
        overdue=overdue,
        listed=listed,
        found_from=found_from,
        found_to=found_to,
    )


SettingsDep = Annotated[Settings, Depends(get_settings)]
# No session dependency: an endpoint opens its session itself (`with Session(engine)`), in the thread that runs it,
# so its connection goes back to the pool the moment the endpoint is done. A dependency's teardown runs on the
# event loop, and under load (tests/test_load.py, 200 clients) the loop fell so far behind that finished
# endpoints held every connection for 30 s and requests were refused 503 ServiceBusy.
EngineDep = Annotated[Engine, Depends(get_engine)]
TemporalDep = Annotated[Client, Depends(get_temporal)]
CurrentActor = Annotated[Actor, Depends(current_actor)]
IdempotencyKey = Annotated[str | None, Depends(idempotency_key)]
HazardFilterDep = Annotated[HazardFilter, Depends(hazard_filter)]


def role_in(roles: Collection[Role], doing: str = "查看") -> Callable[[Actor], Actor]:
    """A dependency: the current actor, if their role is one of `roles`; else 403 saying who may."""
    allowed = "、".join(ROLE_LABELS[role] for role in Role if role in roles)

    def check(actor: CurrentActor) -> Actor:
        if actor.role not in roles:
            raise Problem(
                403, ErrorType.ROLE_FORBIDDEN.value, f"「{ROLE_LABELS[actor.role]}」角色无权{doing}，仅限{allowed}"
            )
        return actor

    return check
