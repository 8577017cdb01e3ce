"""Logs: structlog for our own lines and the standard library's (uvicorn, temporalio, the SDK's Core) alike,
as JSON lines when stderr is not a terminal (production) and a readable console when it is. Set up by the
entry points only.

Context travels in structlog's contextvars: the API binds `request_id` (audit.middleware), `actor_id` and
`hazard_id` (api.deps.current_actor) per request; the worker binds `workflow_id`, `run_id`, `activity` and
`hazard_id` per activity (infra.interceptors). Temporal's own records carry theirs in `extra`, lifted here to
the same names. Lines hold ids, never personal data: no names, phone numbers or tokens.
"""

import logging
import re
import sys
from collections.abc import Mapping
from typing import Any, TextIO

import structlog
from starlette.types import ASGIApp, Receive, Scope, Send
from structlog.typing import EventDict, Processor, WrappedLogger
from temporalio import activity, workflow

from contracts.hazard import workflow_id as hazard_workflow_id

# Mainland mobile numbers, with or without +86: masked wherever they turn up (an exception's text, a library's
# message). Letters and digits around them mean a hash or an id, not a phone number.
PHONE = re.compile(r"(?<![0-9A-Za-z])(?:\+?86)?1[3-9]\d{9}(?![0-9A-Za-z])")
JWT = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
# Libraries that log whole URLs at INFO: a webhook URL may carry its secret.
QUIET = ("httpx", "httpcore")
HAZARD_WORKFLOW_PREFIX = hazard_workflow_id("")


def hazard_of(workflow_id: str | None) -> str | None:
    """The hazard a workflow id names (hazard-<id>), so worker lines join the API's on `hazard_id`."""
    if workflow_id is None or not workflow_id.startswith(HAZARD_WORKFLOW_PREFIX):
        return None
    return workflow_id.removeprefix(HAZARD_WORKFLOW_PREFIX)


def redact(text: str) -> str:
    return JWT.sub("[token]", PHONE.sub("[phone]", text))


def _redact(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    for key, value in event_dict.items():
        if isinstance(value, str):
            event_dict[key] = redact(value)
    return event_dict


def _temporal_ids(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """The SDK's activity and workflow loggers put their ids in `extra`: the same field names as ours."""
    record = event_dict.get("_record")
    details = getattr(record, "temporal_activity", None)
    if isinstance(details, Mapping):
        event_dict.setdefault("workflow_id", details.get("workflow_id"))
        event_dict.setdefault("run_id", details.get("workflow_run_id"))
        event_dict.setdefault("activity", details.get("activity_type"))
    details = getattr(record, "temporal_workflow", None)
    if isinstance(details, Mapping):
        event_dict.setdefault("workflow_id", details.get("workflow_id"))
        event_dict.setdefault("run_id", details.get("run_id"))
        if "update_name" in details:
            event_dict.setdefault("update", details["update_name"])
    hazard_id = hazard_of(event_dict.get("workflow_id"))
    if hazard_id is not None:
        event_dict.setdefault("hazard_id", hazard_id)
    return event_dict


def _foreign_args(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """uvicorn's access line as fields, without the client's address or the query string (a search may name a
    person); other libraries' arguments are already in their message."""
    args = event_dict.pop("positional_args", ())
    record = event_dict.get("_record")
    if getattr(record, "name", None) == "uvicorn.access" and isinstance(args, tuple) and len(args) == 5:
        _client, method, path_and_query, _http_version, status = args
        path = str(path_and_query).partition("?")[0]
        event_dict.update(event=f"{method} {path} {status}", method=method, path=path, status=status)
    return event_dict


def configure_logging(
    *, json: bool | None = None, level: int = logging.INFO, stream: TextIO | None = None, cache_loggers: bool = True
) -> None:
    """Route every line (structlog's and the standard library's) through one formatter on `stream` (stderr).

    `cache_loggers=False` is for tests that configure logging for a while and put it back: a module's logger
    cached under this configuration would keep it (and miss structlog.testing.capture_logs) afterwards."""
    as_json = not sys.stderr.isatty() if json is None else json
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    # JSON lines carry tracebacks as text, redacted like the rest; the console prints them for a person at it.
    rendering: list[Processor] = (
        [
            structlog.processors.format_exc_info,
            _redact,
            structlog.processors.JSONRenderer(ensure_ascii=False),
        ]
        if as_json
        else [_redact, structlog.dev.ConsoleRenderer()]
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=cache_loggers,
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, _foreign_args, _temporal_ids],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *rendering],
            pass_foreign_args=True,
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # uvicorn's own config (log_level, log_config) may have set these loggers up first: one level, ours, for all.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
        logging.getLogger(name).setLevel(logging.NOTSET)
    for name in QUIET:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
    # Their ids are fields now (_temporal_ids), not a dict appended to the message.
    activity.logger.activity_info_on_message = False
    workflow.logger.workflow_info_on_message = False


# Bound by api.deps.current_actor; the request id is bound (and unbound) by audit.middleware.
REQUEST_KEYS = ("actor_id", "hazard_id")


def bind_log_context(**ids: Any) -> None:
    """Bind ids to every later line of the current request; None values are left out."""
    structlog.contextvars.bind_contextvars(**{key: value for key, value in ids.items() if value is not None})


class RequestLogContext:
    """ASGI middleware: each request starts without the actor or hazard of another one served in the same task
    (in-process clients, tests). uvicorn gives every request a task, and so a context, of its own anyway."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            structlog.contextvars.unbind_contextvars(*REQUEST_KEYS)
        await self.app(scope, receive, send)
