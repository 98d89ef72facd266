"""OpenTelemetry for the app: traces and logs over OTLP/HTTP, only when a collector is named.

The standard variables drive it (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_SERVICE_NAME,
OTEL_BSP_SCHEDULE_DELAY, OTEL_BLRP_SCHEDULE_DELAY); with no endpoint nothing is installed, so
the app costs what it did before. Spans pass through `redacted` on their way out: SQL and Redis
statement text and secret headers never leave the process, whatever an instrumentation records.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from opentelemetry import trace

ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_ENDPOINT"
DEFAULT_SERVICE = "manager-app"
MASK = "[REDACTED]"
# Attributes whose value is the statement itself (old and stable semantic conventions).
STATEMENT_KEYS = frozenset({"db.statement", "db.query.text", "db.statement.parameters"})
STATEMENT_PREFIXES = ("db.query.parameter.",)
HEADER_PREFIXES = ("http.request.header.", "http.response.header.")
SECRET_HEADERS = frozenset(
    {"authorization", "proxy_authorization", "cookie", "set_cookie", "x_chaos_token", "x_api_key"}
)
SECRET_WORDS = re.compile(r"token|secret|passw|api_?key|auth|session|cookie", re.IGNORECASE)
URL_KEYS = frozenset({"url.full", "http.url", "url.query", "http.target", "url.original"})
# Per export, retries included (the SDK's default is 10 s): a collector that is down must not
# hold the app's shutdown. OTEL_EXPORTER_OTLP_TIMEOUT (seconds) overrides it.
EXPORT_TIMEOUT_S = 2.0
# Which dependency a client span talks to, by the instrumentation that made it: `peer.service`,
# named like the `dependency` label of dependency_up, so a slow span names its dependency.
PEER_SERVICE = {
    "opentelemetry.instrumentation.psycopg": "database",
    "opentelemetry.instrumentation.redis": "redis",
    "opentelemetry.instrumentation.httpx": "github_api",  # the app's only HTTP client
}
# Not user traffic (nor counted in the metrics): a scrape every few seconds would be a trace each.
UNTRACED_URLS = r"/api/metrics(\?|$)"
# Loggers whose records must not be exported: the exporters themselves (no feedback loop).
_NOT_EXPORTED = ("opentelemetry", "urllib3", "requests")

SEVERITY = {"DEBUG": 5, "INFO": 9, "WARNING": 13, "ERROR": 17, "CRITICAL": 21}  # OTel numbers

_installed: dict[str, Any] = {}


def enabled() -> bool:
    """Whether a collector is configured (an empty endpoint counts as none)."""
    return bool(os.environ.get(ENDPOINT_ENV, "").strip())


def current_ids() -> tuple[str, str] | None:
    """(trace_id, span_id) in hex (32/16) of the active sampled span, else None."""
    ctx = trace.get_current_span().get_span_context()
    if not (ctx.is_valid and ctx.trace_flags.sampled):  # unsampled: no trace in Jaeger to link
        return None
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")


def _secret_header(key: str) -> bool:
    name = key.split(".", 3)[-1].replace("-", "_").lower()
    return name in SECRET_HEADERS or bool(SECRET_WORDS.search(name))


def _clean_url(value: str) -> str:
    """Drop userinfo and mask secret-looking query parameters of a URL or query string."""
    if "?" not in value and "=" in value and "://" not in value:  # a bare query string
        return urlencode([(k, MASK if SECRET_WORDS.search(k) else v) for k, v in parse_qsl(value)])
    parts = urlsplit(value)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    query = urlencode([(k, MASK if SECRET_WORDS.search(k) else v) for k, v in pairs])
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_attributes(attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    """The attributes minus statements, with secret headers and URL secrets masked."""
    out: dict[str, Any] = {}
    for key, value in (attributes or {}).items():
        if key in STATEMENT_KEYS or key.startswith(STATEMENT_PREFIXES):
            continue
        if key.startswith(HEADER_PREFIXES) and _secret_header(key):
            out[key] = (MASK,) if isinstance(value, (tuple, list)) else MASK
        elif key in URL_KEYS and isinstance(value, str):
            out[key] = _clean_url(value)
        else:
            out[key] = value
    return out


def redacted(span: Any) -> Any:
    """A copy of a finished span (ReadableSpan) with its and its events' attributes redacted."""
    from opentelemetry.sdk.trace import Event, ReadableSpan

    events = [
        Event(e.name, redact_attributes(e.attributes), e.timestamp) for e in span.events
    ]  # fmt: skip
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=redact_attributes(span.attributes),
        events=events,
        links=span.links,
        kind=span.kind,
        status=span.status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def redacting(exporter: Any) -> Any:
    """Wrap a SpanExporter so that only redacted copies reach it."""
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    class RedactingExporter(SpanExporter):
        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            result: SpanExportResult = exporter.export([redacted(s) for s in spans])
            return result

        def shutdown(self) -> None:
            exporter.shutdown()

        def force_flush(self, timeout_millis: int = 30_000) -> bool:
            return bool(exporter.force_flush(timeout_millis))

    return RedactingExporter()


def peer_tagger() -> Any:
    """A SpanProcessor that sets `peer.service` on each dependency span as it starts."""
    from opentelemetry.sdk.trace import SpanProcessor

    class PeerTagger(SpanProcessor):
        def on_start(self, span: Any, parent_context: Any = None) -> None:
            scope = span.instrumentation_scope
            peer = PEER_SERVICE.get(scope.name if scope else "")
            if peer:
                span.set_attribute("peer.service", peer)

    return PeerTagger()


class OtlpLogHandler(logging.Handler):
    """Each record as an OTLP log: severity, logger name, event, the `fields`, trace context."""

    def __init__(self, provider: Any) -> None:
        super().__init__()
        self.provider = provider
        self.addFilter(lambda r: not r.name.startswith(_NOT_EXPORTED))

    def emit(self, record: logging.LogRecord) -> None:
        from opentelemetry._logs import SeverityNumber
        from opentelemetry.context import get_current

        try:
            attributes: dict[str, Any] = {"logger": record.name}
            fields = getattr(record, "fields", None)
            if isinstance(fields, dict):
                for key, value in fields.items():
                    ok = isinstance(value, (str, bool, int, float))
                    attributes.setdefault(str(key), value if ok else str(value))
            if record.exc_info and record.exc_info[0] is not None:
                attributes["exception.type"] = record.exc_info[0].__name__
                attributes["exception.stacktrace"] = logging.Formatter().formatException(
                    record.exc_info
                )
            self.provider.get_logger(record.name).emit(
                timestamp=int(record.created * 1e9),
                context=get_current(),
                severity_number=SeverityNumber(SEVERITY.get(record.levelname, 9)),
                severity_text=record.levelname,
                body=record.getMessage(),
                attributes=attributes,
            )
        except Exception:  # logging must never take the app down
            self.handleError(record)


def setup(service_name: str = DEFAULT_SERVICE) -> bool:
    """Install tracing, the stock instrumentations and the log provider once; False if off."""
    if not enabled():
        return False
    if _installed:
        return True
    from opentelemetry._logs import set_logger_provider
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    os.environ.setdefault("OTEL_SERVICE_NAME", service_name)
    resource = Resource.create()  # service.name from OTEL_SERVICE_NAME
    tracer_provider = TracerProvider(resource=resource)
    timeout = None if os.environ.get("OTEL_EXPORTER_OTLP_TIMEOUT") else EXPORT_TIMEOUT_S
    span_exporter = redacting(OTLPSpanExporter(timeout=timeout))
    tracer_provider.add_span_processor(peer_tagger())
    tracer_provider.add_span_processor(BatchSpanProcessor(span_exporter))
    trace.set_tracer_provider(tracer_provider)
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(
        BatchLogRecordProcessor(OTLPLogExporter(timeout=timeout))
    )
    set_logger_provider(logger_provider)
    PsycopgInstrumentor().instrument(enable_commenter=False, capture_parameters=False)
    RedisInstrumentor().instrument()
    HTTPXClientInstrumentor().instrument()
    _installed.update(tracer=tracer_provider, logger=logger_provider)
    _installed["handler"] = OtlpLogHandler(logger_provider)
    return True


def instrument_app(app: Any, routes: Sequence[Any]) -> None:
    """The HTTP server span around everything (our Observability layer runs inside it)."""
    if not _installed:
        return
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

    from app.middleware import UNMATCHED, route_template

    def span_details(scope: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """Named by route template like the metrics (`GET /api/tasks/{task_id}`), not raw path."""
        method, template = scope.get("method", "HTTP"), route_template(routes, scope)
        if template == UNMATCHED:
            return method, {}
        return f"{method} {template}", {"http.route": template}

    app.add_middleware(
        OpenTelemetryMiddleware,
        default_span_details=span_details,
        excluded_urls=os.environ.get("OTEL_PYTHON_EXCLUDED_URLS", UNTRACED_URLS),
        exclude_spans=["receive", "send"],  # one span per request, not one per ASGI message
        tracer_provider=_installed["tracer"],
    )


def untraced() -> contextlib.AbstractContextManager[None]:
    """A block whose calls make no spans: the background prober would add three traces a
    second of SELECT 1 / PING / GET /rate_limit and bury the requests' traces."""
    if not _installed:
        return contextlib.nullcontext()
    from opentelemetry.instrumentation.utils import suppress_instrumentation

    return suppress_instrumentation()


def attach_log_handler() -> None:
    """Send the root logger's records as OTLP logs too (after uvicorn's dictConfig ran)."""
    handler = _installed.get("handler")
    if handler is not None and handler not in logging.getLogger().handlers:
        logging.getLogger().addHandler(handler)


def shutdown() -> None:
    """Export what is buffered and stop (SIGTERM: the last requests' spans and logs are not
    lost), both providers at once: with the collector down each gives up after EXPORT_TIMEOUT_S."""
    handler = _installed.pop("handler", None)
    if handler is None:  # never installed, or shut down already
        return
    logging.getLogger().removeHandler(handler)
    providers = [_installed["tracer"], _installed["logger"]]
    threads = [threading.Thread(target=p.shutdown, name="otel-shutdown") for p in providers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(EXPORT_TIMEOUT_S * 2)
