"""Metrics: the stock prometheus-fastapi-instrumentator set plus one dependency gauge.

From the instrumentator (its names and labels, unchanged):
    http_requests_total{handler, method, status}           status grouped: "2xx", "4xx", "5xx"
    http_request_duration_seconds{handler, method}         LATENCY_BUCKETS (SLO / alerts)
    http_request_duration_highr_seconds                    HIGHR_BUCKETS, no labels
    http_request_size_bytes{handler}, http_response_size_bytes{handler}   summaries
/metrics and /healthz are not instrumented: they are not user traffic (a 503 from /healthz
while Redis is down must not count as a user-facing error).

Our own (prometheus_client, same default registry):
    linkcheck_dependency_up{dependency="redis"|"upstream"}                 1 ok, 0 failing
    linkcheck_dependency_probe_duration_seconds{dependency=...}            last probe's time
"""

from __future__ import annotations

from fastapi import FastAPI
from prometheus_client import Gauge
from prometheus_fastapi_instrumentator import Instrumentator

# 0.2 s (the SLO threshold) and 0.25 s (the latency alert) are exact bucket boundaries, so
# "share of requests <= threshold" is read from one bucket, not interpolated.
LATENCY_BUCKETS: tuple[float, ...] = (0.025, 0.05, 0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 5.0)
HIGHR_BUCKETS: tuple[float, ...] = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.15,
    0.2,
    0.25,
    0.3,
    0.4,
    0.5,
    0.75,
    1.0,
    1.5,
    2.0,
    2.5,
    5.0,
    10.0,
)
NOT_INSTRUMENTED = ("^/metrics$", "^/healthz$")
DEPENDENCIES = ("redis", "upstream")

DEPENDENCY_UP = Gauge(
    "linkcheck_dependency_up",
    "Whether the last probe of a dependency succeeded (1) or failed (0).",
    ["dependency"],
)
DEPENDENCY_PROBE_SECONDS = Gauge(
    "linkcheck_dependency_probe_duration_seconds",
    "How long the last probe of a dependency took, in seconds.",
    ["dependency"],
)


def instrument(app: FastAPI) -> None:
    """Add the instrumentator's middleware and GET /metrics to ``app``."""
    Instrumentator(
        should_group_status_codes=True,
        should_group_untemplated=True,
        excluded_handlers=list(NOT_INSTRUMENTED),
    ).instrument(
        app,
        latency_lowr_buckets=LATENCY_BUCKETS,
        latency_highr_buckets=HIGHR_BUCKETS,
    ).expose(app, endpoint="/metrics", include_in_schema=False)


def record_probe(dependency: str, ok: bool, seconds: float) -> None:
    DEPENDENCY_UP.labels(dependency=dependency).set(1 if ok else 0)
    DEPENDENCY_PROBE_SECONDS.labels(dependency=dependency).set(seconds)
