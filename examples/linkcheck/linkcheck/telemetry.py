"""OpenTelemetry traces over OTLP/HTTP, only when OTEL_EXPORTER_OTLP_ENDPOINT is set.

The stock FastAPI, Redis and httpx instrumentations; spans leave through a redacting exporter
(no Redis statement text, no secret header). Log lines written inside a span end with its
`trace_id=... span_id=...`. Unset endpoint: nothing is installed and nothing changes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry import trace

ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_ENDPOINT"
MASK = "[REDACTED]"
STATEMENT_KEYS = frozenset({"db.statement", "db.query.text", "db.statement.parameters"})
HEADER_PREFIXES = ("http.request.header.", "http.response.header.")
SECRET_WORDS = re.compile(r"token|secret|passw|api_?key|auth|session|cookie", re.IGNORECASE)
EXPORT_TIMEOUT_S = 2.0  # per export, retries included: a down collector must not hold the exit
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s%(trace_ids)s"

_installed: dict[str, Any] = {}


def enabled() -> bool:
    """Whether a collector is configured (empty counts as none)."""
    return bool(os.environ.get(ENDPOINT_ENV, "").strip())


class TraceIds(logging.Filter):
    """Adds `trace_ids` (" trace_id=<32 hex> span_id=<16 hex>" or "") for LOG_FORMAT."""

    def filter(self, record: logging.LogRecord) -> bool:
        ctx = trace.get_current_span().get_span_context()
        record.trace_ids = (
            f" trace_id={ctx.trace_id:032x} span_id={ctx.span_id:016x}" if ctx.is_valid else ""
        )
        return True


def redact_attributes(attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    """The attributes minus statements, secret-looking headers masked."""
    out: dict[str, Any] = {}
    for key, value in (attributes or {}).items():
        if key in STATEMENT_KEYS or key.startswith("db.query.parameter."):
            continue
        secret = key.startswith(HEADER_PREFIXES) and SECRET_WORDS.search(key.split(".", 3)[-1])
        out[key] = (MASK if isinstance(value, str) else (MASK,)) if secret else value
    return out


def _redacting(exporter: Any) -> Any:
    from opentelemetry.sdk.trace import Event, ReadableSpan
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    def copy(span: Any) -> ReadableSpan:
        events = [Event(e.name, redact_attributes(e.attributes), e.timestamp) for e in span.events]
        return ReadableSpan(
            name=span.name, context=span.context, parent=span.parent, resource=span.resource,
            attributes=redact_attributes(span.attributes),
            events=events, links=span.links, kind=span.kind, status=span.status,
            start_time=span.start_time,
            end_time=span.end_time, instrumentation_scope=span.instrumentation_scope,
        )  # fmt: skip

    class Redacting(SpanExporter):
        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            result: SpanExportResult = exporter.export([copy(s) for s in spans])
            return result

        def shutdown(self) -> None:
            exporter.shutdown()

    return Redacting()


def setup(app: Any) -> bool:
    """Install the tracer provider and instrument `app` (before its clients exist)."""
    if not enabled() or _installed:
        return bool(_installed)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    os.environ.setdefault("OTEL_SERVICE_NAME", "linkcheck")
    provider = TracerProvider(resource=Resource.create())
    timeout = None if os.environ.get("OTEL_EXPORTER_OTLP_TIMEOUT") else EXPORT_TIMEOUT_S
    exporter = _redacting(OTLPSpanExporter(timeout=timeout))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    RedisInstrumentor().instrument()
    HTTPXClientInstrumentor().instrument()
    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=provider, excluded_urls="/metrics", exclude_spans=["receive", "send"]
    )
    _installed["tracer"] = provider
    return True


def untraced() -> contextlib.AbstractContextManager[None]:
    """The background prober's calls make no traces (two a second would bury the requests')."""
    if not _installed:
        return contextlib.nullcontext()
    from opentelemetry.instrumentation.utils import suppress_instrumentation

    return suppress_instrumentation()
