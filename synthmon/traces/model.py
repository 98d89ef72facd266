"""A trace as data, whichever store it came from: the spans, their tree and where the time went.

Why a model of our own: the checks (a trace has the expected spans, which span carries the added
latency, an exemplar's slowest span) are pure functions over it, testable on recorded answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Span:
    """One span; times in microseconds since the epoch (what Jaeger's APIs give)."""

    span_id: str
    parent_id: str | None  # None: a root span
    name: str  # the operation: "GET /api/tasks/{task_id}", "SELECT", "GET" (redis)
    service: str  # the resource's service.name
    start_us: int
    duration_us: int
    kind: str = ""  # server, client, internal, producer, consumer ("" when not given)
    attributes: Mapping[str, object] = field(default_factory=dict)

    @property
    def end_us(self) -> int:
        return self.start_us + self.duration_us


@dataclass(frozen=True)
class Trace:
    trace_id: str  # 32 lowercase hex digits
    spans: tuple[Span, ...]

    def children(self, span: Span) -> tuple[Span, ...]:
        return tuple(s for s in self.spans if s.parent_id == span.span_id)

    def roots(self) -> tuple[Span, ...]:
        ids = {s.span_id for s in self.spans}
        return tuple(s for s in self.spans if s.parent_id is None or s.parent_id not in ids)

    def duration_us(self) -> int:
        """From the first span's start to the last span's end."""
        if not self.spans:
            return 0
        return max(s.end_us for s in self.spans) - min(s.start_us for s in self.spans)

    def self_time_us(self, span: Span) -> int:
        """The span's time not covered by its children (overlapping children counted once)."""
        covered, cursor = 0, span.start_us
        for child in sorted(self.children(span), key=lambda s: s.start_us):
            start, end = max(child.start_us, cursor), min(child.end_us, span.end_us)
            if end > start:
                covered += end - start
                cursor = end
        return max(span.duration_us - covered, 0)
