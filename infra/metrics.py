"""The service's own Prometheus metrics (the Temporal SDK exports its own). Defined here, exposed by the
entry points: `prometheus_client`'s default registry, e.g. `start_http_server` in the worker."""

from prometheus_client import Counter, Histogram

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
