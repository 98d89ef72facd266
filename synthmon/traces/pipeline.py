"""The ``traces`` checks' logic: the collector answers its health check, and a synthetic
request to the target becomes a trace in Jaeger with the expected spans in time.

The request carries a W3C ``traceparent`` made here, so its trace ID is known in advance: the
check asks Jaeger for that one trace rather than guessing which of the target's traces is its.
The deadline comes from the export settings (see :func:`trace_deadline_s`).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx

from synthmon.errors import ConfigError, HttpError, QueryError, WaitTimeout
from synthmon.http_errors import error_of, send
from synthmon.traces.expect import TraceCheck, describe, missing
from synthmon.traces.jaeger import JaegerClient
from synthmon.traces.model import Trace
from synthmon.waiting import NotYet, wait_until

COLLECTOR = "OpenTelemetry Collector"
SCHEDULE_DELAY = "OTEL_BSP_SCHEDULE_DELAY"
DEFAULT_SCHEDULE_DELAY_MS = 5000.0  # the OpenTelemetry specification's default
MARGIN_S = 5.0  # the export call, Jaeger's ingest, a poll interval, a loaded machine


class TraceCheckFailed(QueryError):
    """A trace check's failure: what was searched, what was found, the collector's state."""


def schedule_delay_s(env: Mapping[str, str], where: str = "the target's env") -> float:
    """The app's span batch delay (``OTEL_BSP_SCHEDULE_DELAY``, ms; unset: the spec's 5 s)."""
    raw = env.get(SCHEDULE_DELAY)
    if raw is None or not raw.strip():
        return DEFAULT_SCHEDULE_DELAY_MS / 1000
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value < 3_600_000:
        raise ConfigError(f"{where}: {SCHEDULE_DELAY}: expected milliseconds >= 0, got {raw!r}")
    return value / 1000


def trace_deadline_s(env: Mapping[str, str], telemetry_delay_s: float) -> float:
    """How long a span may take to be queryable: ``OTEL_BSP_SCHEDULE_DELAY`` (the app's batch
    delay, from its env) + ``Stack.telemetry_delay_s`` (the collector's batch timeout and its
    storage) + ``MARGIN_S`` (5 s: the export call, ingest, a poll, a loaded machine)."""
    return schedule_delay_s(env) + max(telemetry_delay_s, 0.0) + MARGIN_S


def collector_problem(http: httpx.Client, health_url: str) -> str | None:
    """None when the collector's health endpoint answers 2xx, else what it answered."""
    try:
        send(http, COLLECTOR, "GET", health_url, base_url=health_url)
    except HttpError as exc:
        return str(exc)
    return None


def traceparent() -> tuple[str, str]:
    """A new sampled W3C trace context: (trace ID, ``traceparent`` header value)."""
    trace_id, parent = secrets.token_hex(16), secrets.token_hex(8)
    return trace_id, f"00-{trace_id}-{parent}-01"


@dataclass(frozen=True)
class Pipeline:
    """Where the target's traces go: Jaeger's query API, the target's ``service.name`` in
    spans, the collector's health URL (None: not known) and the export deadline."""

    jaeger: JaegerClient
    service: str
    health_url: str | None
    deadline_s: float
    deadline_why: str = ""


def traced_request(
    http: httpx.Client, app_url: str, check: TraceCheck, pipeline: Pipeline
) -> Trace:
    """Send ``check``'s request to the target with a fresh trace context and wait, up to the
    pipeline's deadline, for Jaeger to hold that trace with every expected span."""
    trace_id, header = traceparent()
    started = datetime.now(UTC) - timedelta(seconds=1)
    url = f"{app_url.rstrip('/')}{check.path}"
    try:
        answer = http.request(check.method, url, headers={"traceparent": header})
    except httpx.HTTPError as exc:
        raise TraceCheckFailed(str(error_of("target", app_url, exc))) from None

    def probe() -> Trace | NotYet:
        trace = pipeline.jaeger.trace(trace_id)
        if trace is None:
            return NotYet(f"no trace {trace_id}")
        gone = missing(trace, check.spans)
        if gone:  # a later batch may still bring them
            return NotYet(f"{describe(trace)}; missing: {', '.join(map(str, gone))}")
        return trace

    try:
        return wait_until(
            probe,
            timeout_s=pipeline.deadline_s,
            interval_s=0.25,
            what=f"trace {trace_id}",
            retry_on=(HttpError,),
        )
    except WaitTimeout as exc:
        raise TraceCheckFailed(
            _failure(http, check, pipeline, trace_id, started, answer.status_code, exc.seen)
        ) from None


def _failure(
    http: httpx.Client,
    check: TraceCheck,
    pipe: Pipeline,
    trace_id: str,
    started: datetime,
    status: int,
    seen: str,
) -> str:
    """What was searched (the trace ID, the service's traces in the window) and found."""
    search = pipe.jaeger.search_for(pipe.service, start=started, end=datetime.now(UTC))
    try:
        others = pipe.jaeger.search(search)
        found = f"{len(others)} trace(s) of the service in that window" + (
            ": " + "; ".join(sorted({r.name for t in others for r in t.roots()})[:5])
            if others
            else ""
        )
    except HttpError as exc:
        found = f"no answer ({exc})"
    health = f"{COLLECTOR}: health not known"
    if pipe.health_url is not None:
        problem = collector_problem(http, pipe.health_url)
        health = f"{COLLECTOR} {pipe.health_url} healthy" if problem is None else problem
    why = f" ({pipe.deadline_why})" if pipe.deadline_why else ""
    return (
        f"{check.request} (HTTP {status}) -> no trace with "
        f"{', '.join(map(str, check.spans))} in Jaeger {pipe.jaeger.base_url}{pipe.jaeger.api} "
        f"within {pipe.deadline_s:g} s{why}: searched trace {trace_id} (sent as traceparent), "
        f"then {search}: last seen: {seen}; found: {found}; {health}"
    )
