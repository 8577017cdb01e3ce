"""Writes one audit record for every state-changing request, accepted or denied, and every history read or
export, before the client sees the answer. Every response carries its request id (X-Request-ID).

If the record cannot be written the answer still goes out: by then the action has happened in the workflow,
and answering 500 would tell the client it had not. The failure is logged as an error, with the request id
and no personal data, for operators to reconcile against the workflow history.
"""

import asyncio
import dataclasses
import json
import re
import uuid
from collections.abc import Collection
from typing import Any

import structlog
from fastapi import FastAPI
from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import InvalidToken, SigningKeysUnavailable, TokenVerifier
from audit.store import AuditEntry, AuditStore
from contracts.hazard import Actor

log = structlog.get_logger("audit")

REQUEST_ID = "X-Request-ID"
# A client's own request id is kept only if it looks like one; anything else is replaced, not stored.
REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Reads that are audited: a hazard's history, its escalations, letters and evidence, everything under /audit.
# A new export or history route is added here.
AUDITED_READS = frozenset(
    {
        "/hazards/{hazard_id}/events",
        "/hazards/{hazard_id}/escalations",
        "/escalations/{escalation_id}/letter.docx",
        "/hazards/{hazard_id}/evidence/{sha256}",
        # The web UI's hazard page shows the whole history, as the events route does.
        "/ui/hazards/{hazard_id}",
        "/reports/{snapshot_id}.xlsx",
    }
)
AUDITED_PREFIX = "/audit/"
# A write's answer larger than this is not read for the id of what it made (a report's answer is small).
OBJECT_SCAN_LIMIT = 1 << 20


class AuditMiddleware:
    def __init__(self, app: ASGIApp, *, trusted_proxies: Collection[str] = ()) -> None:
        self.app = app
        self.trusted_proxies = frozenset(trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = Headers(scope=scope).get(REQUEST_ID, "")
        request_id = given if REQUEST_ID_PATTERN.fullmatch(given) else str(uuid.uuid4())
        # Held back until the record is written: an answered request is an audited one.
        held: list[Message] = []
        held_bytes = 0
        status = 500
        recorded = False

        async def send_audited(message: Message) -> None:
            nonlocal status, recorded, held_bytes
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID] = request_id
            if recorded or not audited(scope):
                await send(message)
                return
            held.append(message)
            if message["type"] == "http.response.start":
                # Unless the answer must be read for the object, the body is not held: downloads stream on.
                ready = names_its_object(scope, status)
            else:
                held_bytes += len(message.get("body", b""))
                ready = not message.get("more_body", False) or held_bytes > OBJECT_SCAN_LIMIT
            if not ready:
                return
            await self.record(scope, status, request_id, held)
            recorded = True
            for kept in held:
                await send(kept)
            held.clear()

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, send_audited)
            except Exception:
                if audited(scope) and not recorded:
                    await self.record(scope, 500, request_id, [])
                raise

    async def record(self, scope: Scope, status: int, request_id: str, messages: list[Message]) -> None:
        request = Request(scope)
        route = scope.get("route")
        template: str | None = getattr(route, "path", None)
        entry = AuditEntry(
            method=request.method,
            route=template or request.url.path,
            action=getattr(route, "name", None) or "unmatched",
            status=status,
            request_id=request_id,
            object_id=_object_id(scope, messages),
            source_ip=self.source_ip(request),
        )
        try:
            store: AuditStore = request.app.state.audit
            tokens: TokenVerifier = request.app.state.tokens
            verified: Actor | None = getattr(request.state, "actor", None)
            authorization = request.headers.get("Authorization", "")
            await asyncio.to_thread(_append, store, tokens, authorization, entry, verified)
        except Exception as err:
            log.error(
                "audit record not written",
                method=entry.method,
                route=entry.route,
                status=status,
                error=type(err).__name__,
            )

    def source_ip(self, request: Request) -> str | None:
        """The peer's address; behind a trusted proxy, the last address it was forwarded for."""
        peer = request.client.host if request.client else None
        if peer not in self.trusted_proxies:
            return peer
        hops = [hop.strip() for hop in request.headers.get("X-Forwarded-For", "").split(",") if hop.strip()]
        # Walk back from the nearest hop: addresses before the first untrusted one could be made up.
        for hop in reversed(hops):
            if hop not in self.trusted_proxies:
                return hop[:64]
        return peer


def audited(scope: Scope) -> bool:
    method: str = scope["method"]
    if method in WRITES:
        return True
    if method != "GET":
        return False
    template: str | None = getattr(scope.get("route"), "path", None)
    return template is not None and (template in AUDITED_READS or template.startswith(AUDITED_PREFIX))


def names_its_object(scope: Scope, status: int) -> bool:
    """Whether the path names what the request is about; if not, a successful write's answer does (a report's
    answer carries the hazard id it made) and is read for it."""
    return bool(scope.get("path_params")) or scope["method"] not in WRITES or not 200 <= status < 300


def _append(
    store: AuditStore, tokens: TokenVerifier, authorization: str, entry: AuditEntry, verified: Actor | None
) -> None:
    """`verified` is the actor the request's route already took from its token (api.deps.get_actor); a request
    refused before that (no route, a body too large) has its token checked here. In a worker thread: checking a
    token may fetch the identity platform's keys."""
    actor = verified if verified is not None else _actor(tokens, authorization)
    store.append(dataclasses.replace(entry, actor=actor))


def _actor(tokens: TokenVerifier, authorization: str) -> Actor | None:
    """Who the token says, checked as `api.deps.get_actor` checks it; no token or a bad one is anonymous."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    try:
        return tokens.verify(token.strip())
    except (InvalidToken, SigningKeysUnavailable):
        return None


def _object_id(scope: Scope, messages: list[Message]) -> str | None:
    """The hazard (or escalation, year...) the path names; for a report, the hazard its answer created."""
    params: dict[str, Any] = scope.get("path_params") or {}
    if "hazard_id" in params:
        return str(params["hazard_id"])
    if params:
        return str(next(iter(params.values())))
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    if not body or len(body) > OBJECT_SCAN_LIMIT:
        return None
    try:
        answer = json.loads(body)
    except ValueError:
        return None
    created = answer.get("hazard_id") if isinstance(answer, dict) else None
    return created if isinstance(created, str) else None


def install(app: FastAPI, *, trusted_proxies: Collection[str] = ()) -> None:
    """Audits `app`'s requests; the app's lifespan must set `app.state.audit` (see `audit.store.store_for`)."""
    app.add_middleware(AuditMiddleware, trusted_proxies=trusted_proxies)
