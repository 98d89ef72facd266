"""The exemplars of the SLO gate's report as data (filled in by :mod:`synthmon.slo.exemplars`):
a module of its own so that the report can hold them without importing the Prometheus and
Jaeger side."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

from synthmon.slo.decide import ms


@dataclass(frozen=True)
class Exemplar:
    """One slow request as Prometheus kept it, and what Jaeger holds of its trace."""

    trace_id: str
    value_s: float
    timestamp: float
    bucket: str  # the ``le`` of the bucket it was observed in
    series: Mapping[str, str]  # the bucket series' labels (endpoint, method, ...)
    in_jaeger: bool | None = None  # None: no trace store to ask
    slowest_span: str | None = None  # "name [service]"
    slowest_self_ms: float | None = None

    def line(self) -> str:
        where = self.series.get("endpoint") or self.series.get("handler") or ""
        head = f"{ms(self.value_s)} {where} trace {self.trace_id or '(no trace ID)'}".strip()
        if self.in_jaeger is None:
            return head
        if not self.in_jaeger:
            return f"{head}: not in Jaeger"
        return f"{head}: slowest span {self.slowest_span} (self {self.slowest_self_ms:g} ms)"


@dataclass(frozen=True)
class ObjectiveExemplars:
    """The exemplars above one latency objective's threshold, or why there are none."""

    objective: str
    threshold_s: float
    query: str
    exemplars: tuple[Exemplar, ...] = ()
    note: str = ""  # one line: no exemplar storage, no trace store, none above the threshold

    def to_dict(self) -> dict[str, object]:
        out = asdict(self)
        out["exemplars"] = [dict(asdict(e), series=dict(e.series)) for e in self.exemplars]
        return out

    def render(self) -> str:
        head = f"exemplars of {self.objective} above {ms(self.threshold_s)} ({self.query})"
        lines = [f"{head}: {self.note}" if self.note else f"{head}:"]
        lines += [f"  {e.line()}" for e in self.exemplars]
        return "\n".join(lines)
