"""What a trace must hold, as data: the project file's ``telemetry.trace_checks``.

``trace_checks: [{request: "GET /api/tasks/1", spans: [{kind: server}, {attributes:
{db.system: postgresql}}, ...]}]``: each request, sent to the target, must produce one trace
with a span matching each entry (every given field equal; ``name`` and attribute values that
are strings also match as the whole string). The models sit beside T1's ``telemetry:`` models
(:mod:`synthmon.projectfile_models`) once those land; until then a check reads them with
:func:`trace_checks_of`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from synthmon.errors import ConfigError
from synthmon.traces.model import Span, Trace

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


class SpanExpectation(BaseModel):
    """One span the trace must have: every field given must match."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str | None = Field(None, pattern="^(server|client|internal|producer|consumer)$")
    name: str | None = None
    service: str | None = None
    attributes: dict[str, str | int | float | bool] = Field(default_factory=dict)

    def matches(self, span: Span) -> bool:
        if self.kind is not None and span.kind != self.kind:
            return False
        if self.name is not None and span.name != self.name:
            return False
        if self.service is not None and span.service != self.service:
            return False
        return all(_same(span.attributes.get(k), v) for k, v in self.attributes.items())

    def __str__(self) -> str:
        fields = [f"{k}={v}" for k, v in (("kind", self.kind), ("name", self.name),
                  ("service", self.service)) if v is not None]  # fmt: skip
        fields += [f"{k}={v}" for k, v in self.attributes.items()]
        return "{" + ", ".join(fields) + "}" if fields else "{any span}"


def _same(seen: object, wanted: object) -> bool:
    return seen == wanted or (seen is not None and str(seen) == str(wanted))


class TraceCheck(BaseModel):
    """A request to the target and the spans its trace must hold."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    request: str = Field(description='"METHOD /path" sent to the target, e.g. "GET /api/tasks/1"')
    spans: list[SpanExpectation] = Field(min_length=1)

    @field_validator("request")
    @classmethod
    def _request(cls, value: str) -> str:
        method, _, path = value.partition(" ")
        if method not in METHODS or not path.startswith("/") or " " in path.strip():
            raise ValueError(f'expected "METHOD /path" (METHOD one of {", ".join(METHODS)})')
        return f"{method} {path.strip()}"

    @property
    def method(self) -> str:
        return self.request.split(" ", 1)[0]

    @property
    def path(self) -> str:
        return self.request.split(" ", 1)[1]


def missing(trace: Trace, expected: Sequence[SpanExpectation]) -> list[SpanExpectation]:
    """The expectations no span of ``trace`` matches."""
    return [e for e in expected if not any(e.matches(s) for s in trace.spans)]


def describe(trace: Trace, limit: int = 20) -> str:
    """The trace's spans on one line: ``kind name [service]`` with the telling attributes."""
    telling = (
        "db.system",
        "db.system.name",
        "http.route",
        "url.full",
        "http.url",
        "server.address",
    )
    shown = []
    for span in sorted(trace.spans, key=lambda s: s.start_us)[:limit]:
        attrs = ", ".join(f"{k}={span.attributes[k]}" for k in telling if k in span.attributes)
        shown.append(
            f"{span.kind or '?'} {span.name!r} [{span.service}]" + (f" ({attrs})" if attrs else "")
        )
    more = f"; +{len(trace.spans) - limit} more" if len(trace.spans) > limit else ""
    return f"trace {trace.trace_id}: {len(trace.spans)} spans: " + "; ".join(shown) + more


def trace_checks_of(raw: object, where: str = "telemetry.trace_checks") -> tuple[TraceCheck, ...]:
    """``telemetry.trace_checks`` from the project file's raw value (None: none); a bad entry
    is one ConfigError line naming the key path and what was expected."""
    if raw is None:
        return ()
    if isinstance(raw, TraceCheck):
        return (raw,)
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        raise ConfigError(f"{where}: expected a list of {{request, spans}}, got {raw!r}")
    out = []
    for i, entry in enumerate(raw):
        if isinstance(entry, TraceCheck):
            out.append(entry)
            continue
        try:
            out.append(TraceCheck.model_validate(_plain(entry)))
        except ValidationError as exc:
            first = exc.errors()[0]
            path = ".".join(str(p) for p in first["loc"])
            raise ConfigError(f"{where}[{i}].{path}: {first['msg']}") from None
    return tuple(out)


def _plain(entry: object) -> Any:
    """A model of another module (T1's) as a dict, a mapping as it is."""
    dump = getattr(entry, "model_dump", None)
    return dump() if callable(dump) else dict(entry) if isinstance(entry, Mapping) else entry
