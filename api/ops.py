"""What ops scrape: /metrics (Prometheus), public like /healthz and /readyz (api/routers/health.py)."""

import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import TypeVarTuple

import structlog
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, Row, Select, func
from sqlalchemy import select as sa_select
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from contracts.enums import Stage
from infra.metrics import REQUEST_SECONDS
from readmodel.models import Hazard, OutboxRow

router = APIRouter(tags=["ops"])
log = structlog.get_logger("api.ops")

CHECK_TIMEOUT = 3.0
PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


class OpenHazards(Collector):
    """Open hazards by stage, street, industry and RAG, counted from the read model when Prometheus scrapes."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def collect(self) -> Iterator[Metric]:
        gauge = GaugeMetricFamily(
            "xiaohao_hazards_open",
            "Open hazards by stage, street, industry and RAG",
            labels=["stage", "street", "industry", "rag"],
        )
        query = (
            sa_select(col(Hazard.stage), col(Hazard.street), col(Hazard.industry), col(Hazard.rag), func.count())
            .where(col(Hazard.stage).not_in([Stage.CLOSED.value, Stage.REVOKED.value]))
            .group_by(col(Hazard.stage), col(Hazard.street), col(Hazard.industry), col(Hazard.rag))
        )
        for stage, street, industry, rag, count in _read(self._engine, query, "open hazards") or []:
            gauge.add_metric([str(stage), street, str(industry), str(rag)], count)
        yield gauge


class OutboxBacklog(Collector):
    """Notifications the webhook has not taken yet, counted from the outbox when Prometheus scrapes: rows
    piling up mean the receiver is down or refusing them (the worker's drainer logs why)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def collect(self) -> Iterator[Metric]:
        backlog = GaugeMetricFamily("xiaohao_outbox_backlog", "Notifications in the outbox not yet delivered")
        oldest = GaugeMetricFamily(
            "xiaohao_outbox_oldest_age_seconds", "How long the oldest undelivered notification has waited (0: none)"
        )
        query = sa_select(func.count(), func.min(col(OutboxRow.created_at))).where(
            col(OutboxRow.delivered_at).is_(None)
        )
        rows = _read(self._engine, query, "the outbox backlog")
        # No sample when the database does not answer: a missing value, not a reassuring zero.
        if rows:
            count, created = rows[0]
            backlog.add_metric([], count)
            oldest.add_metric([], (datetime.now(UTC) - created).total_seconds() if created else 0.0)
        yield backlog
        yield oldest


Ts = TypeVarTuple("Ts")


def _read(engine: Engine, query: Select[*Ts], what: str) -> Sequence[Row[*Ts]] | None:
    try:
        with Session(engine) as session:
            return session.execute(query).all()
    except SQLAlchemyError:
        # The other metrics still matter when the read model does not answer; /readyz says why.
        log.exception(f"{what} could not be counted for /metrics")
        return None


class RequestTimer:
    """ASGI middleware: each request's latency under its route template (known only after routing)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def timed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            REQUEST_SECONDS.labels(scope["method"], route, str(status)).observe(time.perf_counter() - started)


def install(app: FastAPI, engine_registry: CollectorRegistry) -> None:
    app.add_middleware(RequestTimer)
    app.state.metrics_registry = engine_registry
    app.include_router(router)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    app_registry: CollectorRegistry = request.app.state.metrics_registry
    body = await run_in_threadpool(lambda: generate_latest(REGISTRY) + generate_latest(app_registry))
    return Response(body, media_type=PROMETHEUS_TEXT)
