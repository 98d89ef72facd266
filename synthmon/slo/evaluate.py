"""Evaluate an SLO spec over exactly one window of one Prometheus.

Counts come from :mod:`synthmon.slo.counters` (raw counter values at ``start`` and ``end``, no
extrapolation), verdicts from :mod:`synthmon.slo.decide`. Every objective gets a row: a query
failure, no data or too few requests is an ``error`` row with the reason, never a pass.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from synthmon.errors import ConfigError, QueryError
from synthmon.prom import Prometheus
from synthmon.slo import promql
from synthmon.slo.client import ClientStats
from synthmon.slo.counters import CounterIncrease, exact_increase
from synthmon.slo.decide import (
    count_disagreement,
    decide_error_rate,
    decide_latency,
    min_requests,
    ms,
    pct,
    rate_disagreement,
)
from synthmon.slo.report import ObjectiveResult, SLOReport, Verdict
from synthmon.slo.spec import Objective, SLOSpec

# How far ``end`` may lie after Prometheus's clock (skew, a scrape still in flight).
END_TOLERANCE_S = 5


def threshold_text(obj: Objective) -> str:
    """What the objective demands, in words the runbook uses."""
    if obj.type == "latency":
        return f"P{(obj.percentile or 0) * 100:g} <= {ms(obj.threshold)}"
    if obj.type == "cpu":
        return f"<= {obj.threshold * 100:g}% of a core"
    return f"<= {pct(obj.threshold)}"


def normalise(window: tuple[float, float]) -> tuple[float, float]:
    """The window to the millisecond (Prometheus's time resolution), start before end.

    Instant queries take these exact instants. Range selectors (resets, max_over_time) use the
    length rounded UP to whole seconds: that can only add samples from before ``start`` to a
    reset search or a maximum, never miss one. Rounding the instants themselves instead would
    shift a Locust window by up to a second at each edge and skew the count cross-check.
    """
    start, end = round(float(window[0]), 3), round(float(window[1]), 3)
    if not (math.isfinite(start) and math.isfinite(end)) or end <= start:
        raise ConfigError(f"window: end ({window[1]}) must be after start ({window[0]})")
    return start, end


class _Evaluation:
    """One evaluate() call: the window, the Prometheus, and counters fetched once each."""

    def __init__(
        self,
        spec: SLOSpec,
        prom: Prometheus,
        start: float,
        end: float,
        client: ClientStats | None,
    ) -> None:
        self.spec, self.prom, self.start, self.end, self.client = spec, prom, start, end, client
        self.duration = end - start
        self.seconds = math.ceil(self.duration)  # range selectors: whole seconds, rounded up
        self._counters: dict[str, CounterIncrease] = {}

    def counter(self, selector: str, what: str) -> CounterIncrease:
        if selector not in self._counters:
            # a counter that stopped being scraped still answers instant queries with its
            # last value (for the 5 min lookback): "no increase" must not pass for "no data"
            fresh = promql.present(selector, self.seconds)
            if not self.prom.query(fresh, at=self.end):
                raise QueryError(f"no data: {what}: {fresh} returned nothing (not scraped?)")
            inc = exact_increase(self.prom, selector, self.start, self.end)
            if not inc.per_series:
                raise QueryError(f"no data: {what}: {selector} returned nothing in the window")
            self._counters[selector] = inc
        return self._counters[selector]

    def row(
        self,
        obj: Objective,
        verdict: Verdict,
        measured: float | None,
        measured_text: str,
        reason: str,
        queries: tuple[str, ...],
        **details: float | int | str | None,
    ) -> ObjectiveResult:
        return ObjectiveResult(
            name=obj.name,
            type=obj.type,
            verdict=verdict,
            measured=measured,
            threshold=obj.threshold,
            measured_text=measured_text,
            threshold_text=threshold_text(obj),
            reason=reason,
            promql=queries,
            endpoint=obj.endpoint,
            details=details,
        )

    def cross_check(self, obj: Objective, total: float, rate: float | None) -> list[str]:
        """Pipeline-disagreement reasons against Locust (whole-service objectives only)."""
        if self.client is None or obj.endpoint is not None:
            return []
        out = [count_disagreement(total, self.client.requests)]
        if rate is not None and self.client.failure_rate is not None:
            out.append(rate_disagreement(rate, self.client.failure_rate))
        return [r for r in out if r]

    def metric(self, obj: Objective, key: str) -> str:
        """The spec's name for ``key`` (the loader rejects objectives whose metric is null)."""
        name = getattr(self.spec.metrics, key)
        if name is None:
            raise ConfigError(f"objective {obj.name}: metrics.{key} is null (not exported)")
        return str(name)

    def latency(self, obj: Objective) -> ObjectiveResult:
        if obj.percentile is None:  # the spec loader requires it; a hand-built Objective may not
            raise ConfigError(f"objective {obj.name}: latency needs a percentile")
        bucket = f"{self.metric(obj, 'duration_histogram')}_bucket"
        sel = promql.selector(bucket, self.spec.matchers(obj))
        inc = self.counter(sel, f"latency histogram of {obj.name}")
        buckets: dict[float, float] = {}
        for key, value in inc.per_series.items():
            le = dict(key).get("le")
            if le is None:
                continue
            try:
                bound = float(le)  # "+Inf" parses as inf
            except ValueError:
                raise QueryError(f"{sel}: series with a non-numeric le={le!r}") from None
            buckets[bound] = buckets.get(bound, 0.0) + value
        decision = decide_latency(buckets, obj.threshold, obj.percentile, min_requests(obj))
        hq_query = promql.increase_quantile(obj.percentile, sel, self.seconds)
        try:
            hq = [s.value for s in self.prom.query(hq_query, at=self.end)]
            finite = len(hq) == 1 and math.isfinite(hq[0])
            info = ms(hq[0]) if finite else "n/a (no increase() in the window)"
        except QueryError as exc:
            hq, info = [], f"unavailable ({exc})"
        label = f"P{obj.percentile * 100:g}"
        reason = f"{decision.reason}; histogram_quantile {label} ~ {info} (interpolated, info)"
        disagreements = self.cross_check(obj, decision.total, None)
        if self.client is not None and obj.endpoint is None and self.client.p95_ms is not None:
            reason += f"; Locust P95 {self.client.p95_ms:g} ms"
        verdict: Verdict = (
            "error" if decision.holds is None else "pass" if decision.holds else "fail"
        )
        if disagreements and verdict != "error":
            verdict, reason = "fail", "; ".join([*disagreements, reason])
        share = "n/a" if decision.share is None else pct(decision.share)
        bucket = "n/a" if decision.bucket is None else ms(decision.bucket)
        return self.row(
            obj,
            verdict,
            decision.share,
            f"{share} <= {bucket}",
            reason,
            (*inc.promql, f"{hq_query} @ {promql.number(self.end)}"),
            requests=decision.total,
            fast=decision.good,
            exact=decision.exact,
            histogram_quantile_s=hq[0] if len(hq) == 1 else None,
            client_p95_ms=None if self.client is None else self.client.p95_ms,
        )

    def error_rate(self, obj: Objective) -> ObjectiveResult:
        sel = promql.selector(self.metric(obj, "request_counter"), self.spec.matchers(obj))
        inc = self.counter(sel, f"request counter of {obj.name}")
        status = self.metric(obj, "status_label")
        # A series without the status label cannot be judged: counting it as a success would
        # turn a wrong status_label into "0 errors", a pass without data.
        unlabelled = [k for k in inc.per_series if status not in dict(k)]
        if unlabelled:
            raise QueryError(
                f"no data: {len(unlabelled)} of {len(inc.per_series)} series of {sel} have no "
                f"{status!r} label (metrics.status_label), e.g. "
                f"{{{', '.join(f'{k}={v!r}' for k, v in unlabelled[0])}}}"
            )
        total = inc.total()
        metrics = self.spec.metrics
        seen = sorted({dict(k)[status] for k in inc.per_series})
        errors = sum(v for k, v in inc.per_series.items() if metrics.is_error(dict(k)[status]))
        decision = decide_error_rate(errors, total, obj.threshold, min_requests(obj))
        verdict: Verdict = (
            "error" if decision.holds is None else "pass" if decision.holds else "fail"
        )
        reason = (
            f"{decision.reason} (error: {status}=~{promql.quote(metrics.error_status)}; "
            f"{status} values seen: {', '.join(seen)})"
        )
        disagreements = self.cross_check(obj, total, decision.rate)
        if self.client is not None and obj.endpoint is None:
            reason += f"; Locust: {self.client.failures} failures of {self.client.requests}"
        if disagreements and verdict != "error":
            verdict, reason = "fail", "; ".join([*disagreements, reason])
        measured = "n/a" if decision.rate is None else pct(decision.rate)
        return self.row(
            obj,
            verdict,
            decision.rate,
            measured,
            reason,
            inc.promql,
            requests=total,
            errors=errors,
            client_failure_rate=None if self.client is None else self.client.failure_rate,
        )

    def cpu(self, obj: Objective) -> ObjectiveResult:
        sel = promql.selector(self.metric(obj, "cpu_counter"), self.spec.selector)
        inc = self.counter(sel, "process CPU counter")
        rates = {k: v / self.duration for k, v in inc.per_series.items()}
        key, worst = max(rates.items(), key=lambda kv: kv[1])
        who = ",".join(f"{k}={v}" for k, v in key)
        holds = worst <= obj.threshold
        reason = (
            f"{worst:.3f} CPU-seconds per second averaged over {promql.number(self.duration)} s "
            f"({'<=' if holds else '>'} {obj.threshold:g}; busiest of {len(rates)} series: {who})"
        )
        return self.row(
            obj,
            "pass" if holds else "fail",
            worst,
            f"{worst * 100:.1f}% of a core",
            reason,
            inc.promql,
            series=len(rates),
        )

    def memory(self, obj: Objective) -> ObjectiveResult:
        rss, limit = self.metric(obj, "memory_rss"), self.metric(obj, "memory_limit")
        query = promql.memory_ratio(self.spec.selector, self.seconds, rss, limit)
        samples = self.prom.query(query, at=self.end)
        if not samples:
            for metric in (rss, limit):
                part = promql.present(promql.selector(metric, self.spec.selector), self.seconds)
                if not self.prom.query(part, at=self.end):
                    raise QueryError(f"no data: {metric}: {part} returned nothing")
            raise QueryError(f"no data: memory ratio: {query} returned nothing (labels differ?)")
        worst = max(s.value for s in samples)
        if not math.isfinite(worst):
            raise QueryError(f"memory ratio is {worst} (is {limit} 0?): {query}")
        holds = worst <= obj.threshold
        reason = (
            f"peak resident memory / limit = {pct(worst)} over {promql.number(self.duration)} s "
            f"({'<=' if holds else '>'} {pct(obj.threshold)}; max of {len(samples)} series)"
        )
        return self.row(
            obj,
            "pass" if holds else "fail",
            worst,
            pct(worst),
            reason,
            (f"{query} @ {promql.number(self.end)}",),
            series=len(samples),
        )

    def run(self, obj: Objective) -> ObjectiveResult:
        handlers: dict[str, Callable[[Objective], ObjectiveResult]] = {
            "latency": self.latency,
            "error_rate": self.error_rate,
            "cpu": self.cpu,
            "memory": self.memory,
        }
        try:
            return handlers[obj.type](obj)
        except QueryError as exc:
            return self.row(obj, "error", None, "n/a", str(exc), ())


def evaluate(
    spec: SLOSpec,
    prom: Prometheus,
    window: tuple[float, float],
    client_stats: ClientStats | None = None,
) -> SLOReport:
    """Every objective of ``spec`` over ``window`` (unix seconds, to the millisecond).

    Raises QueryError when Prometheus cannot be asked at all (one line, nothing evaluated)
    and ConfigError when the window is empty or not over yet by Prometheus's clock.
    """
    start, end = normalise(window)
    now = prom.query_one("time()", what="Prometheus server time").value
    if end > now + END_TOLERANCE_S:
        raise ConfigError(
            f"window end {end} is {end - now:.0f} s after Prometheus's clock ({now:.0f}): "
            "the window is not over yet"
        )
    run = _Evaluation(spec, prom, start, end, client_stats)
    results = tuple(run.run(obj) for obj in spec.objectives)
    return SLOReport(spec.service, spec.path, prom.url, start, end, results, client_stats)
