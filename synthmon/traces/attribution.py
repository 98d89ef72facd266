"""Which span carries a slow endpoint's added latency (pure functions over :mod:`.model`).

The runbook's HighResponseTime step is "review traces in Jaeger": take the slowest traces of
the slow endpoint and see where the time went. Here that is: in each of the N slowest traces,
the spans of the endpoint's subtree are grouped (a database's by ``db.system``, others by name
and peer: :func:`group_of`) and each group's *self time* (time no child span covers) is
compared with the same group's median in the endpoint's traces from before the fault (the
baseline). The group that gained the most is
that trace's carrier. Why against a baseline and not the largest self time alone: a span that is
always the largest (a 2 ms query in a 3 ms request) would then "carry" latency that nobody
added, and a check that names it would pass on a fault that never reached the traces. Without
baseline traces the gain is the absolute self time, and the verdict says so.

The answer holds when the expected span is the carrier in a majority of the N slowest traces and
there holds at least :data:`MIN_SHARE` of the trace's added time; a trace whose time is in the
endpoint's own span (no child explains it) never holds.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from synthmon.traces.expect import SpanExpectation
from synthmon.traces.model import Span, Trace

MIN_SHARE = 0.5  # the carrier holds at least half of what the trace gained over the baseline
KEY_ATTRIBUTES = ("db.system", "db.system.name")  # a database's spans form one group
PEER_ATTRIBUTES = ("server.address", "net.peer.name")  # OTel semconv, new and old
PORT_ATTRIBUTES = ("server.port", "net.peer.port")


def _text(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


@dataclass(frozen=True)
class Investigation:
    """A scenario's trace investigation: the slow endpoint (its server span's name, e.g.
    ``GET /api/orders/{id}``), the span expected to carry the latency, how many of the
    slowest traces are attributed."""

    endpoint: str
    span: SpanExpectation  # the trace checks' span expectation (every given field matches)
    traces: int = 5

    def expected(self) -> str:
        return f"a span {self.span}"


def group_of(span: Span) -> str:
    """What a span's time is charged to: a database by its system, whatever the statement
    (latency on a link slows each of its calls), ``shop client [redis]``; any other span
    by its name and peer, ``shop client GET -> 127.0.0.1:8081``."""
    keys = [_text(span.attributes[k]) for k in KEY_ATTRIBUTES if k in span.attributes]
    head = " ".join(p for p in (span.service, span.kind) if p)
    if keys:
        return f"{head} [{keys[0]}]"
    peer = next((_text(span.attributes[k]) for k in PEER_ATTRIBUTES if k in span.attributes), "")
    port = next((_text(span.attributes[k]) for k in PORT_ATTRIBUTES if k in span.attributes), "")
    to = f" -> {peer}:{port}" if peer and port else f" -> {peer}" if peer else ""
    return f"{head} {span.name}{to}"


def endpoint_span(trace: Trace, endpoint: str) -> Span | None:
    """The endpoint's span in ``trace`` (a server span of that name first), if any."""
    found = [s for s in trace.spans if s.name == endpoint]
    found.sort(key=lambda s: (s.kind.lower() != "server", s.start_us))
    return found[0] if found else None


def _subtree(trace: Trace, top: Span) -> list[Span]:
    spans, todo = [], [top]
    while todo:
        span = todo.pop()
        spans.append(span)
        todo += trace.children(span)
    return spans


def self_times(trace: Trace, top: Span) -> tuple[dict[str, int], dict[str, list[Span]]]:
    """Each group's summed self time under ``top`` (µs), and its spans."""
    times: dict[str, int] = {}
    spans: dict[str, list[Span]] = {}
    for span in _subtree(trace, top):
        group = group_of(span)
        times[group] = times.get(group, 0) + trace.self_time_us(span)
        spans.setdefault(group, []).append(span)
    return times, spans


@dataclass(frozen=True)
class Baseline:
    """The endpoint before the fault: each group's median self time, the median duration."""

    traces: int
    self_us: Mapping[str, float]
    duration_us: float

    @classmethod
    def of(cls, traces: Sequence[Trace], endpoint: str) -> Baseline:
        tops = [(t, s) for t in traces if (s := endpoint_span(t, endpoint)) is not None]
        if not tops:
            return cls(0, {}, 0.0)
        each = [self_times(t, s)[0] for t, s in tops]
        groups = {g for times in each for g in times}
        return cls(
            traces=len(tops),
            self_us={g: statistics.median(times.get(g, 0) for times in each) for g in groups},
            duration_us=statistics.median(s.duration_us for _, s in tops),
        )


@dataclass(frozen=True)
class TraceCarrier:
    """One slow trace's answer: the group that gained the most, and how much of the trace's gain."""

    trace_id: str
    duration_us: int
    group: str
    gained_us: float
    trace_gained_us: float
    in_endpoint: bool  # the endpoint's own span: no child explains the time
    expected: bool  # one of the group's spans is the expected one
    expected_gained_us: float  # what the expected span(s) gained in this trace
    expected_seen: bool = True  # the trace has an expected span at all

    @property
    def share(self) -> float:
        return self.gained_us / self.trace_gained_us if self.trace_gained_us > 0 else 0.0

    @property
    def agrees(self) -> bool:
        return self.expected and not self.in_endpoint and self.share >= MIN_SHARE


def carrier(trace: Trace, top: Span, baseline: Baseline, expected: SpanExpectation) -> TraceCarrier:
    times, spans = self_times(trace, top)
    gained = {g: t - baseline.self_us.get(g, 0.0) for g, t in times.items()}
    best = max(sorted(gained), key=lambda g: gained[g])
    wanted = [g for g, members in spans.items() if any(expected.matches(s) for s in members)]
    return TraceCarrier(
        trace_id=trace.trace_id,
        duration_us=top.duration_us,
        group=best,
        gained_us=gained[best],
        trace_gained_us=top.duration_us - baseline.duration_us,
        in_endpoint=top in spans[best],
        expected=best in wanted,
        expected_gained_us=sum(gained[g] for g in wanted),
        expected_seen=bool(wanted),
    )


def _ms(us: float) -> str:
    return f"{us / 1000:+.1f} ms"


@dataclass(frozen=True)
class Attribution:
    """The answer for the N slowest traces, with a one-line verdict for the report."""

    endpoint: str
    expected: str
    carriers: tuple[TraceCarrier, ...]
    baseline: Baseline
    searched: int  # slow traces of the endpoint looked at (the N slowest are attributed)

    @property
    def carrier(self) -> str:
        """The group most of the slowest traces name ("" without traces)."""
        votes = Counter(c.group for c in self.carriers)
        return votes.most_common(1)[0][0] if votes else ""

    @property
    def agree(self) -> int:
        return sum(c.agrees for c in self.carriers)

    @property
    def holds(self) -> bool:
        return bool(self.carriers) and self.agree * 2 > len(self.carriers)

    def verdict(self) -> str:
        n, base = len(self.carriers), self._basis()
        if not n:
            return f"{self.endpoint}: no traces of the endpoint while the fault held ({base})"
        named = [c for c in self.carriers if c.group == self.carrier]
        gained = statistics.median(c.gained_us for c in named)
        total = statistics.median(c.trace_gained_us for c in named)
        how = f"{len(named)}/{n} of the slowest traces, {_ms(gained)} of {_ms(total)}; {base}"
        if self.holds:
            return (
                f"{self.endpoint}: {self.expected} carries the added latency: `{self.carrier}`"
                f" in {self.agree}/{n} of the slowest traces ({_ms(gained)} of {_ms(total)};"
                f" {base})"
            )
        if all(c.in_endpoint for c in named):
            return (
                f"{self.endpoint}: the added latency is in the endpoint's own span "
                f"`{self.carrier}` ({how}): no child span explains it, the traces do not "
                f"show where the time went (expected {self.expected})"
            )
        if all(c.expected for c in named):
            share = statistics.median(c.share for c in named)
            return (
                f"{self.endpoint}: {self.expected} (`{self.carrier}`) gained the most but holds "
                f"only {share:.0%} of the trace's gain ({how}; a carrier must hold "
                f"{MIN_SHARE:.0%} in a majority): the time is spread, the traces do not show "
                "where it went"
            )
        mine = statistics.median(c.expected_gained_us for c in self.carriers)
        seen = any(c.expected_seen for c in self.carriers)
        return (
            f"{self.endpoint}: expected {self.expected} to carry the added latency, but "
            f"`{self.carrier}` does ({how}); "
            + (
                f"{self.expected} gained {_ms(mine)}"
                if seen
                else f"no span of these traces is {self.expected}"
            )
        )

    def _basis(self) -> str:
        if self.baseline.traces:
            return f"baseline: {self.baseline.traces} traces before the fault"
        return "no baseline traces before the fault: gain = absolute self time"

    def to_json(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "expected": self.expected,
            "holds": self.holds,
            "verdict": self.verdict(),
            "carrier": self.carrier,
            "agree": self.agree,
            "searched": self.searched,
            "baseline": {
                "traces": self.baseline.traces,
                "duration_ms": self.baseline.duration_us / 1000,
                "self_ms": {g: t / 1000 for g, t in sorted(self.baseline.self_us.items())},
            },
            "slowest": [
                {
                    "trace_id": c.trace_id,
                    "duration_ms": c.duration_us / 1000,
                    "carrier": c.group,
                    "gained_ms": c.gained_us / 1000,
                    "trace_gained_ms": c.trace_gained_us / 1000,
                    "share": round(c.share, 3),
                    "in_endpoint": c.in_endpoint,
                    "expected": c.expected,
                    "agrees": c.agrees,
                }
                for c in self.carriers
            ],
        }


def attribute(
    investigation: Investigation, slow: Sequence[Trace], before: Sequence[Trace] = ()
) -> Attribution:
    """Attribute the ``investigation.traces`` slowest of ``slow`` (traces while the fault held)
    against ``before`` (the endpoint's traces before it)."""
    endpoint = investigation.endpoint
    tops = [(t, s) for t in slow if (s := endpoint_span(t, endpoint)) is not None]
    tops.sort(key=lambda ts: ts[1].duration_us, reverse=True)
    baseline = Baseline.of(before, endpoint)
    return Attribution(
        endpoint=endpoint,
        expected=investigation.expected(),
        carriers=tuple(
            carrier(t, s, baseline, investigation.span) for t, s in tops[: investigation.traces]
        ),
        baseline=baseline,
        searched=len(tops),
    )
