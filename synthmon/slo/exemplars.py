"""Exemplars link the SLO gate to traces: the requests that made a latency objective fail.

For each latency objective, Prometheus's ``/api/v1/query_exemplars`` over the gate's window on
the duration histogram's buckets; the exemplars above the threshold (bucket ``le`` and value
both above it) are listed with their trace ID, whether Jaeger has that trace, and its slowest
span by self time (the span whose own work, not its children's, took longest).

A Prometheus without exemplar storage (``--enable-feature=exemplar-storage``) or a stack
without a trace store is one line in the report, not an error: the gate's verdict never
depends on exemplars.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from synthmon.errors import QueryError
from synthmon.prom import Prometheus
from synthmon.slo import promql
from synthmon.slo.decide import ms
from synthmon.slo.exemplar_model import Exemplar, ObjectiveExemplars
from synthmon.slo.report import SLOReport
from synthmon.slo.spec import Objective, SLOSpec
from synthmon.traces.jaeger import JaegerClient

#: Exemplar label names that carry a trace ID (OpenMetrics/OTel, Jaeger's and Grafana's).
TRACE_ID_LABELS = ("trace_id", "traceID", "trace.id", "TraceID", "traceId")
FEATURE = "exemplar-storage"
LIMIT = 20  # exemplars per objective in the report: the slowest first


def has_exemplar_storage(prom: Prometheus) -> bool:
    """Whether Prometheus runs with ``--enable-feature=exemplar-storage`` (its flags say)."""
    features = prom.flags().get("enable-feature", "")
    return FEATURE in {f.strip() for f in features.split(",")}


def _trace_id(labels: Mapping[str, str]) -> str:
    return next((labels[k].lower() for k in TRACE_ID_LABELS if labels.get(k)), "")


def _above(data: Any, threshold: float, where: str) -> list[Exemplar]:
    if not isinstance(data, list):
        raise QueryError(f"{where}: expected a list of series, got {str(data)[:200]}")
    out = []
    for series in data:
        labels = dict(series.get("seriesLabels", {}))
        try:
            le = float(labels.get("le", "nan"))
        except ValueError:
            continue
        for raw in series.get("exemplars", []):
            value = float(raw.get("value", "nan"))
            if not (le > threshold and math.isfinite(value) and value > threshold):
                continue
            out.append(
                Exemplar(
                    _trace_id(raw.get("labels", {})), value, float(raw.get("timestamp", 0)),
                    labels.get("le", ""), {k: v for k, v in labels.items() if k != "le"},
                )
            )  # fmt: skip
    return sorted(out, key=lambda e: -e.value_s)


def _with_trace(exemplar: Exemplar, jaeger: JaegerClient) -> Exemplar:
    trace = jaeger.trace(exemplar.trace_id) if exemplar.trace_id else None
    if trace is None:
        return _replace(exemplar, in_jaeger=False)
    slowest = max(trace.spans, key=trace.self_time_us)
    return _replace(
        exemplar,
        in_jaeger=True,
        slowest_span=f"{slowest.name} [{slowest.service}]",
        slowest_self_ms=round(trace.self_time_us(slowest) / 1000, 1),
    )


def _replace(exemplar: Exemplar, **changes: Any) -> Exemplar:
    return Exemplar(**{**asdict(exemplar), "series": exemplar.series, **changes})


def objective_exemplars(
    spec: SLOSpec,
    obj: Objective,
    prom: Prometheus,
    window: tuple[float, float],
    jaeger: JaegerClient | None,
    storage: bool,
) -> ObjectiveExemplars:
    """The exemplars above ``obj``'s threshold in ``window``, each with its trace."""
    bucket = spec.metrics.duration_bucket or ""
    query = promql.selector(bucket, spec.matchers(obj)) if bucket else ""
    made = ObjectiveExemplars(obj.name, obj.threshold, query)
    if not query:
        return _note(made, "no duration histogram in the spec (metrics.duration_histogram)")
    if not storage:
        return _note(made, f"Prometheus {prom.shown_url} keeps no exemplars "
                     f"(runs without --enable-feature={FEATURE})")  # fmt: skip
    start, end = window
    where = f"Prometheus {prom.shown_url}/api/v1/query_exemplars?query={query}"
    found = _above(prom.query_exemplars(query, start, end), obj.threshold, where)
    if not found:
        return _note(made, f"no exemplar above {ms(obj.threshold)} in the window")
    shown = tuple(found[:LIMIT])
    more = f"; {len(found) - LIMIT} more not shown" if len(found) > LIMIT else ""
    if jaeger is None:
        return _note(
            ObjectiveExemplars(obj.name, obj.threshold, query, shown),
            f"no trace store here: trace IDs listed without their traces{more}",
        )
    with_traces = tuple(_with_trace(e, jaeger) for e in shown)
    missing = sum(1 for e in with_traces if not e.in_jaeger)
    note = f"{missing} of {len(with_traces)} not in Jaeger {jaeger.base_url}" if missing else ""
    return ObjectiveExemplars(
        obj.name, obj.threshold, query, with_traces, (note + more).lstrip("; ")
    )


def _note(made: ObjectiveExemplars, note: str) -> ObjectiveExemplars:
    return ObjectiveExemplars(made.objective, made.threshold_s, made.query, made.exemplars, note)


def gate_exemplars(
    spec: SLOSpec,
    prom: Prometheus,
    window: tuple[float, float],
    jaeger: JaegerClient | None,
) -> tuple[ObjectiveExemplars, ...]:
    """Every latency objective's exemplars; a failure to ask is a note, never an exception."""
    latency = [o for o in spec.objectives if o.type == "latency"]
    if not latency:
        return ()
    try:
        storage = has_exemplar_storage(prom)
    except QueryError as exc:
        return tuple(_note(ObjectiveExemplars(o.name, o.threshold, ""), str(exc)) for o in latency)
    out = []
    for obj in latency:
        try:
            out.append(objective_exemplars(spec, obj, prom, window, jaeger, storage))
        except QueryError as exc:
            out.append(ObjectiveExemplars(obj.name, obj.threshold, "", (), f"not read: {exc}"))
    return tuple(out)


def with_exemplars(
    report: SLOReport, spec: SLOSpec, prom: Prometheus, jaeger: JaegerClient | None
) -> SLOReport:
    """``report`` with its latency objectives' exemplars over the report's own window."""
    found = gate_exemplars(spec, prom, (report.start, report.end), jaeger)
    return dataclasses.replace(report, exemplars=found)


def failing_exemplars(report: SLOReport, objective: str) -> str:
    """The exemplar lines of ``objective`` for a failure message ("" when none were asked)."""
    return "\n".join(e.render() for e in report.exemplars if e.objective == objective)
