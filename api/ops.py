"""What ops scrape: /metrics (Prometheus), public like /healthz and /readyz (api/routers/health.py)."""

import time
from collections.abc import Iterator

import structlog
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func
from sqlalchemy import select as sa_select
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from contracts.enums import Stage
from infra.metrics import REQUEST_SECONDS
from readmodel.models import Hazard

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
        try:
            with Session(self._engine) as session:
                rows = session.execute(query).all()
        except SQLAlchemyError:
            # The other metrics still matter when the read model does not answer; /readyz says why.
            log.exception("open hazards could not be counted for /metrics")
            rows = []
        for stage, street, industry, rag, count in rows:
            gauge.add_metric([str(stage), street, str(industry), str(rag)], count)
        yield gauge


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
