"""OTLP JSON (what Jaeger's ``/api/v3`` answers) into :mod:`synthmon.traces.model` traces.

Pure functions over a parsed document, so recorded answers test them. OTLP JSON encodes trace
and span IDs in hex, 64-bit integers as strings and the span kind as an enum number.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from synthmon.errors import QueryError
from synthmon.traces.model import Span, Trace

#: OTLP's SpanKind enum (opentelemetry/proto/trace/v1/trace.proto).
KINDS: Mapping[int, str] = dict(
    enumerate(("", "internal", "server", "client", "producer", "consumer"))
)
_SCALARS = ("stringValue", "boolValue", "doubleValue", "bytesValue")


def value_of(value: Mapping[str, Any]) -> object:
    """An OTLP ``AnyValue`` as Python: str, bool, int, float, list or dict."""
    if "intValue" in value:
        return int(value["intValue"])
    for key in _SCALARS:
        if key in value:
            return value[key]
    if "arrayValue" in value:
        return [value_of(v) for v in value["arrayValue"].get("values", [])]
    if "kvlistValue" in value:
        return attributes_of(value["kvlistValue"].get("values", []))
    return None


def attributes_of(pairs: list[Mapping[str, Any]]) -> dict[str, object]:
    return {pair["key"]: value_of(pair.get("value", {})) for pair in pairs}


def _span(raw: Mapping[str, Any], service: str) -> Span:
    start = int(raw["startTimeUnixNano"])
    end = int(raw.get("endTimeUnixNano", start))
    kind = raw.get("kind", 0)
    if isinstance(kind, str):  # the enum's name, as some encoders write it
        kind = kind.removeprefix("SPAN_KIND_").lower()
        kind = "" if kind == "unspecified" else kind
    else:
        kind = KINDS.get(int(kind), "")
    return Span(
        span_id=str(raw["spanId"]).lower(),
        parent_id=str(raw.get("parentSpanId") or "").lower() or None,
        name=str(raw.get("name", "")),
        service=service,
        start_us=start // 1000,
        duration_us=max(end - start, 0) // 1000,
        kind=kind,
        attributes=attributes_of(raw.get("attributes", [])),
    )


def traces_of(doc: Mapping[str, Any], where: str = "OTLP JSON") -> list[Trace]:
    """The traces of one ``{"resourceSpans": [...]}`` (or ``{"result": {...}}``) document,
    grouped by trace ID, in the order each trace first appears; QueryError on another shape."""
    body = doc.get("result", doc) if isinstance(doc, Mapping) else None
    shaped = isinstance(body, Mapping) and (not body or "resourceSpans" in body)
    if (
        not shaped
        or not isinstance(body, Mapping)
        or not isinstance(body.get("resourceSpans", []), list)
    ):
        raise QueryError(f"{where}: expected OTLP JSON with resourceSpans, got {str(doc)[:200]}")
    spans: dict[str, list[Span]] = {}
    try:
        for resource in body.get("resourceSpans", []):
            attrs = attributes_of(resource.get("resource", {}).get("attributes", []))
            service = str(attrs.get("service.name", ""))
            for scope in resource.get("scopeSpans", []):
                for raw in scope.get("spans", []):
                    spans.setdefault(str(raw["traceId"]).lower(), []).append(_span(raw, service))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise QueryError(f"{where}: a span without a usable {exc} in {str(doc)[:200]}") from None
    return [Trace(trace_id, tuple(found)) for trace_id, found in spans.items()]
