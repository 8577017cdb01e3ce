"""The service's own Prometheus metrics, defined here and exposed by the entry points from `prometheus_client`'s
default registry: the worker's on its metrics port (`start_http_server`), the API's on /metrics (api/ops.py,
with the gauges counted from the read model when Prometheus scrapes). The Temporal SDK exports its own from
the worker's runtime (temporal_runtime).

Label values come from closed sets (actions, rungs, stages, years, route templates): never a hazard id.

Where each one is counted, and why that is right with several replicas:
- transitions, escalations, stage durations and projection lag: by the worker that writes an event's row into
  the read model, once per row actually inserted (a redelivered projection inserts nothing and counts
  nothing). Each event is inserted by exactly one worker, so `sum()` over worker instances is the total.
- deadlines on the fallback calendar: by the worker computing them, per computation.
- read-model drift: by the process running the reconciler.
- open hazards and the outbox backlog (api/ops.py): counted from the database at scrape time, so every API
  replica reports the same value: take `max()` over instances, not `sum()`.
"""

import logging

from prometheus_client import Counter, Histogram
from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    PrometheusConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)

MINUTE = 60.0
HOUR = 60 * MINUTE
DAY = 24 * HOUR

# A deadline counted on Monday-Friday because the committee office has not yet entered that year's
# official calendar: provisional until it does. Counted per computation (a recount counts again).
DEADLINES_ON_FALLBACK = Counter(
    "xiaohao_deadlines_fallback_calendar",
    "Deadlines scheduled on the Monday-Friday fallback, by the unpublished year they counted through",
    ["year"],
)

# Route templates (/hazards/{hazard_id}/review), never raw paths: the label set stays bounded.
REQUEST_SECONDS = Histogram(
    "xiaohao_http_request_duration_seconds",
    "API request latency by route template, method and status",
    ["method", "route", "status"],
)

TRANSITIONS = Counter(
    "xiaohao_transitions",
    "Accepted actions on hazards (people's and the service's own escalations), by action",
    ["action"],
)

ESCALATIONS = Counter(
    "xiaohao_escalations",
    "Escalation rungs issued (提醒, 函告, 约谈, 挂牌督办, 通报), by rung",
    ["rung"],
)

# Stages last days to months; the short buckets catch hazards moved on at once (and tests).
STAGE_SECONDS = Histogram(
    "xiaohao_stage_duration_seconds",
    "Time a hazard spent in a stage, observed when it leaves it, by the stage left",
    ["stage"],
    buckets=(
        MINUTE,
        HOUR,
        DAY,
        2 * DAY,
        5 * DAY,
        10 * DAY,
        20 * DAY,
        30 * DAY,
        60 * DAY,
        90 * DAY,
        180 * DAY,
        365 * DAY,
    ),
)

PROJECTION_LAG = Histogram(
    "xiaohao_projection_lag_seconds",
    "From an action accepted by the workflow to its event row written in the read model",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0),
)

# kind: what differed (contracts.reconcile.DriftKind: a missing row, a stale one...); outcome: found, healed or
# failed (a heal was written and the drift was still there). Incremented by the reconciler per row out of step
# with its workflow (each missing event row counts one).
READ_MODEL_DRIFT = Counter(
    "xiaohao_read_model_drift",
    "Read-model rows found out of step with their workflow, by kind of drift and outcome",
    ["kind", "outcome"],
)


def temporal_runtime(*, prometheus_address: str | None = None) -> Runtime:
    """The SDK's runtime: its Core's own log lines go through our logging (logger `temporalio.core`) instead of
    straight to stderr, and its metrics (workflow task latency, pollers, sticky cache, requests to the server)
    are served at http://<prometheus_address>/metrics when given. Durations in seconds, like ours."""
    return Runtime(
        telemetry=TelemetryConfig(
            logging=LoggingConfig(
                filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
                forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core")),
            ),
            metrics=(
                PrometheusConfig(bind_address=prometheus_address, durations_as_seconds=True)
                if prometheus_address
                else None
            ),
        )
    )
