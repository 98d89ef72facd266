"""Pure verdict arithmetic: exact latency shares, error budgets, minimum sample sizes.

No I/O here, so every rule is unit-tested on numbers. Conventions:

* Thresholds are inclusive budgets. "P95 < 200 ms" is decided as "at least 95% of requests
  took <= 0.2 s", which is what a histogram bucket ``le="0.2"`` counts, and is exactly
  "the nearest-rank 95th percentile is <= 0.2 s".
* Minimum sample size: the smallest n at which ONE bad event fits the budget,
  ``n >= ceil(1 / (1 - percentile))`` for latency (20 at P95) and ``n >= ceil(1 / threshold)``
  for error rates (100 at 1%). Below it one slow request or one error decides alone, so the
  figure says nothing about a percentile or a rate; the objective fails as "too few".
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from synthmon.slo.spec import Objective

_EPS = 1e-9


def min_requests(objective: Objective) -> int:
    """The smallest request count that can decide ``objective`` (see module doc)."""
    if objective.min_requests is not None:
        return objective.min_requests
    if objective.type == "latency" and objective.percentile is not None:
        # round() first: 1 / (1 - 0.9) is 10.000000000000002, not 10.
        return math.ceil(round(1.0 / (1.0 - objective.percentile), 9))
    if objective.type == "error_rate":
        return math.ceil(round(1.0 / objective.threshold, 9))
    return 1


def ms(seconds: float) -> str:
    """``0.2`` -> ``200 ms``; ``0.24375`` -> ``243.8 ms``."""
    return f"{seconds * 1000:.1f}".removesuffix(".0") + " ms"


def pct(share: float) -> str:
    return f"{share * 100:.2f}%"


@dataclass(frozen=True)
class LatencyDecision:
    """The verdict on "share of requests <= threshold >= percentile" and how it was reached."""

    holds: bool | None  # None: could not decide (no data, too few requests)
    share: float | None  # share of requests counted as fast
    good: float
    total: float
    bucket: float | None  # the ``le`` whose count was used (None: below every bucket)
    exact: bool
    reason: str


def decide_latency(
    buckets: Mapping[float, float], threshold: float, percentile: float, minimum: int
) -> LatencyDecision:
    """Decide from cumulative bucket counts ``{le: count}`` (``inf`` = all requests).

    With a bucket at the threshold the decision is exact. Without one, the requests between
    the nearest lower bucket and the threshold cannot be told apart from slower ones: the
    lower bucket decides (conservative: it can fail a service that holds, never pass one that
    does not) and the reason gives the bucket that contains the threshold as the error bound.
    """
    total = buckets.get(math.inf)
    if total is None:
        return LatencyDecision(None, None, 0, 0, None, False, 'no data: no le="+Inf" bucket')
    if total < minimum:
        return LatencyDecision(
            None,
            None,
            0,
            total,
            None,
            False,
            f"too few requests to decide: {total:g} < {minimum} (the minimum at which one "
            f"slow request out of n fits a {pct(1 - percentile)} budget)",
        )
    need = f"need >= {pct(percentile)}"
    exact_le = next((le for le in buckets if math.isclose(le, threshold, rel_tol=1e-9)), None)
    if exact_le is not None:
        good = buckets[exact_le]
        share = good / total
        holds = share >= percentile - _EPS
        reason = f"exact: {good:g} of {total:g} requests <= {ms(threshold)} ({pct(share)}, {need})"
        return LatencyDecision(holds, share, good, total, exact_le, True, reason)
    lower = max((le for le in buckets if le < threshold), default=None)
    upper = min((le for le in buckets if le > threshold), default=math.inf)
    good = 0.0 if lower is None else buckets[lower]
    share = good / total
    high = buckets.get(upper, total) / total
    low_text = "0" if lower is None else ms(lower)
    reason = (
        f"no histogram bucket at {ms(threshold)}: decided with le={low_text} (conservative): "
        f"{pct(share)} <= {low_text}, {need}; the true share <= {ms(threshold)} lies in "
        f"[{pct(share)}, {pct(high)}] (threshold inside bucket {low_text}..{ms(upper)}, "
        f"interpolation error up to {ms(upper - (lower or 0.0))})"
    )
    return LatencyDecision(share >= percentile - _EPS, share, good, total, lower, False, reason)


@dataclass(frozen=True)
class RateDecision:
    holds: bool | None
    rate: float | None
    reason: str


def decide_error_rate(errors: float, total: float, threshold: float, minimum: int) -> RateDecision:
    """Error share (statuses matching the spec's error_status) against an inclusive budget."""
    if total <= 0:
        return RateDecision(None, None, "no data: no requests counted in the window")
    if total < minimum:
        return RateDecision(
            None,
            None,
            f"too few requests to decide: {total:g} < {minimum} (the minimum at which one "
            f"error out of n fits a {pct(threshold)} budget)",
        )
    rate = errors / total
    verdict = "<=" if rate <= threshold + _EPS else ">"
    reason = f"{errors:g} 5xx of {total:g} requests = {pct(rate)} {verdict} {pct(threshold)}"
    return RateDecision(rate <= threshold + _EPS, rate, reason)


def count_disagreement(prom_total: float, client_requests: int, limit: float = 0.05) -> str:
    """ "" or a pipeline-disagreement reason when the request counts differ by > ``limit``."""
    base = max(client_requests, 1)
    diff = abs(prom_total - client_requests) / base
    if diff <= limit:
        return ""
    return (
        f"pipeline disagreement: Prometheus counted {prom_total:g} requests, Locust sent "
        f"{client_requests} ({pct(diff)} apart > {pct(limit)})"
    )


def rate_disagreement(prom_rate: float, client_rate: float, limit: float = 0.01) -> str:
    """ "" or a pipeline-disagreement reason when error rates differ by > ``limit`` (points)."""
    if abs(prom_rate - client_rate) <= limit + _EPS:
        return ""
    return (
        f"pipeline disagreement: Prometheus error rate {pct(prom_rate)}, Locust failure rate "
        f"{pct(client_rate)} (> {limit * 100:g} points apart)"
    )
