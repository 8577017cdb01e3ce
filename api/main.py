"""The HTTP API. Run with `uvicorn api.main:app`; settings come from the environment (see settings.py)."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import Depends, FastAPI
from fastapi_offline import FastAPIOffline
from prometheus_client import CollectorRegistry
from temporalio.runtime import Runtime

from api import errors, ops
from api.auth import TokenVerifier, load_or_create_secret
from api.body_limit import BodyLimit
from api.deps import known_single_query_parameters
from api.routers import admin, audit, escalations, evidence, hazards, health, imports, ledgers, reports, statistics
from audit.middleware import install as install_audit
from audit.store import store_for
from evidence import EvidenceStore, LocalEvidenceStore, S3EvidenceStore
from infra.codec import data_converter, load_or_create_key
from infra.heap import freeze_startup_heap
from infra.logging import RequestLogContext, configure_logging
from infra.metrics import temporal_runtime
from infra.temporal import TemporalConnection
from readmodel.db import make_engine
from settings import Settings
from web import install as install_web

log = structlog.get_logger("api")

DESCRIPTION = """
销号 xiaohao: every major accident hazard (重大事故隐患) from report to sign-off (销号).

Every call carries `Authorization: Bearer <token>`; errors are `application/problem+json` with a stable
`code` and a Chinese `title`/`detail`. Actions accept an `Idempotency-Key` header: the same key returns
the first answer instead of acting twice.
"""


def evidence_store(settings: Settings) -> EvidenceStore:
    if settings.evidence_s3_bucket:
        return S3EvidenceStore(
            settings.evidence_s3_bucket,
            endpoint_url=settings.evidence_s3_endpoint_url,
            region=settings.evidence_s3_region,
            prefix=settings.evidence_s3_prefix,
            max_size=settings.evidence_max_bytes,
            staging_dir=settings.data_dir / "evidence-staging",
        )
    return LocalEvidenceStore(settings.data_dir / "evidence", max_size=settings.evidence_max_bytes)


# Every API route: a query parameter it does not declare, or one sent twice, is refused
# (api.deps.known_single_query_parameters).
API_DEPENDENCIES = [Depends(known_single_query_parameters)]


def create_app(settings: Settings | None = None, *, process_setup: bool = True) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if process_setup:  # the app is its process's entry point (uvicorn), not one of a test's
            configure_logging(json=settings.log_json)
            # Before the first Temporal client: the SDK Core's own log lines then go through ours too.
            Runtime.set_default(temporal_runtime(), error_if_already_set=False)
        app.state.settings = settings
        app.state.evidence_store = evidence_store(settings)
        app.state.tokens = (
            TokenVerifier.oidc(
                settings.jwt_jwks_url,
                issuer=settings.jwt_issuer,
                audience=settings.jwt_audience,
                claim_names=settings.jwt_claim_names,
            )
            if settings.jwt_jwks_url
            else TokenVerifier.embedded(
                load_or_create_secret(settings.jwt_secret, settings.jwt_secret_file),
                issuer=settings.jwt_issuer,
                audience=settings.jwt_audience,
            )
        )
        app.state.engine = make_engine(settings.database_url)
        app.state.audit = store_for(settings, app.state.engine)
        app.state.metrics_registry.register(ops.OpenHazards(app.state.engine))
        app.state.metrics_registry.register(ops.OutboxBacklog(app.state.engine))
        key = load_or_create_key(settings.payload_key, settings.payload_key_file)
        app.state.temporal = TemporalConnection(
            settings.temporal_address, settings.temporal_namespace, data_converter(key)
        )
        if process_setup:
            log.info("api started", startup_objects_frozen=freeze_startup_heap())
        yield
        app.state.engine.dispose()

    app = FastAPIOffline(title="xiaohao 销号", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    errors.install(app)
    # Per app, so several apps in one process (tests) do not register the same collector twice.
    ops.install(app, CollectorRegistry())
    # Inside the audit middleware: a body refused for its size is an answered request, and so an audited one.
    app.add_middleware(BodyLimit)
    install_audit(app, trusted_proxies=settings.trusted_proxies)
    app.add_middleware(RequestLogContext)
    app.include_router(health.router)
    app.include_router(hazards.router, dependencies=API_DEPENDENCIES)
    app.include_router(escalations.router, dependencies=API_DEPENDENCIES)
    app.include_router(admin.router, dependencies=API_DEPENDENCIES)
    app.include_router(evidence.router, dependencies=API_DEPENDENCIES)
    app.include_router(audit.router, dependencies=API_DEPENDENCIES)
    app.include_router(statistics.router, dependencies=API_DEPENDENCIES)
    app.include_router(ledgers.router, dependencies=API_DEPENDENCIES)
    app.include_router(reports.router, dependencies=API_DEPENDENCIES)
    app.include_router(imports.router, dependencies=API_DEPENDENCIES)
    # Last: its cookie session must wrap the audit middleware (web/session.py).
    install_web(app)
    return app


app = create_app()
