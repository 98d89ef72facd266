"""Exactness arithmetic without a network: latency shares, budgets, resets, sample sizes."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from synthmon.slo.counters import reset_aware_increase
from synthmon.slo.decide import (
    count_disagreement,
    decide_error_rate,
    decide_latency,
    min_requests,
    rate_disagreement,
)
from synthmon.slo.spec import Objective

APP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1,
               2.5, 5, 10, math.inf)  # fmt: skip


def cumulative(
    latencies: list[float], bounds: tuple[float, ...] = APP_BUCKETS
) -> dict[float, float]:
    return {le: float(sum(1 for x in latencies if x <= le)) for le in bounds}


def nearest_rank(latencies: list[float], p: float) -> float:
    ordered = sorted(latencies)
    return ordered[math.ceil(round(p * len(ordered), 9)) - 1]


@pytest.mark.parametrize(
    ("p", "expected"), [(0.95, 20), (0.99, 100), (0.9, 10), (0.5, 2), (0.999, 1000)]
)
def test_min_requests_for_a_percentile(p: float, expected: int) -> None:
    assert min_requests(Objective("x", "latency", 0.2, p)) == expected


def test_min_requests_for_error_rates_and_overrides() -> None:
    assert min_requests(Objective("x", "error_rate", 0.01)) == 100
    assert min_requests(Objective("x", "error_rate", 0.05)) == 20
    assert min_requests(Objective("x", "error_rate", 0.01, min_requests=5)) == 5
    assert min_requests(Objective("x", "cpu", 0.7)) == 1


def test_exact_threshold_bucket_decides_exactly_at_the_edge() -> None:
    # 950 of 1000 at <= 0.2 s: exactly 95%, holds; 949 does not.
    holds = decide_latency(cumulative([0.2] * 950 + [0.3] * 50), 0.2, 0.95, 20)
    assert holds.holds is True and holds.exact and holds.good == 950
    fails = decide_latency(cumulative([0.2] * 949 + [0.3] * 51), 0.2, 0.95, 20)
    assert fails.holds is False and "949 of 1000" in fails.reason


def test_too_few_and_no_data_are_undecided() -> None:
    few = decide_latency(cumulative([0.01] * 19), 0.2, 0.95, 20)
    assert few.holds is None and "too few requests to decide: 19 < 20" in few.reason
    none = decide_latency({0.2: 3.0}, 0.2, 0.95, 20)
    assert none.holds is None and "no data" in none.reason


def test_no_bucket_at_threshold_is_conservative_with_a_stated_bound() -> None:
    # threshold 0.18 between buckets 0.15 and 0.2: requests at 0.17 are unknowable.
    latencies = [0.1] * 900 + [0.17] * 100
    decision = decide_latency(cumulative(latencies), 0.18, 0.95, 20)
    assert decision.holds is False and not decision.exact and decision.bucket == 0.15
    assert "no histogram bucket at 180 ms: decided with le=150 ms (conservative)" in decision.reason
    assert "[90.00%, 100.00%]" in decision.reason and "error up to 50 ms" in decision.reason
    below_all = decide_latency(cumulative([0.001] * 100), 0.003, 0.95, 20)
    assert below_all.holds is False and below_all.bucket is None


@given(
    st.lists(st.sampled_from([0.01, 0.1, 0.15, 0.188, 0.2, 0.21, 0.25, 0.3, 1.0]), min_size=20),
    st.sampled_from([0.5, 0.9, 0.95, 0.99]),
)
def test_bucket_decision_equals_nearest_rank_percentile(latencies: list[float], p: float) -> None:
    """With a bucket at the threshold: holds iff the true nearest-rank percentile <= it."""
    decision = decide_latency(cumulative(latencies), 0.2, p, 1)
    assert decision.holds == (nearest_rank(latencies, p) <= 0.2)


@given(st.lists(st.floats(0.0, 2.0), min_size=20), st.sampled_from([0.9, 0.95, 0.99]))
def test_conservative_decision_never_passes_a_violation(latencies: list[float], p: float) -> None:
    decision = decide_latency(cumulative(latencies), 0.18, p, 1)
    if decision.holds:
        assert nearest_rank(latencies, p) <= 0.18


def test_error_rate_budget_is_inclusive() -> None:
    assert decide_error_rate(1, 100, 0.01, 100).holds is True
    assert decide_error_rate(2, 100, 0.01, 100).holds is False
    five = decide_error_rate(50, 1000, 0.01, 100)
    assert five.holds is False and five.rate == 0.05
    assert five.reason == "50 5xx of 1000 requests = 5.00% > 1.00%"
    assert decide_error_rate(0, 99, 0.01, 100).holds is None
    assert "no data" in decide_error_rate(0, 0, 0.01, 100).reason


def test_pipeline_disagreement_thresholds() -> None:
    assert count_disagreement(1050, 1000) == ""
    assert "Prometheus counted 1051 requests, Locust sent 1000 (5.10% apart > 5.00%)" in (
        count_disagreement(1051, 1000)
    )
    assert rate_disagreement(0.02, 0.01) == ""
    assert "Prometheus error rate 5.00%, Locust failure rate 0.00%" in rate_disagreement(0.05, 0)


def test_reset_aware_increase() -> None:
    points = [(9.0, 100.0), (10.0, 100.0), (11.0, 130.0), (12.0, 150.0), (13.0, 5.0), (14.0, 30.0)]
    # baseline 100 at start=10; +50 before the restart, then 30 after it.
    assert reset_aware_increase(100.0, points, 10.0) == (80.0, 1)
    # a series born in the window counts from 0
    assert reset_aware_increase(None, [(11.0, 7.0), (12.0, 9.0)], 10.0) == (9.0, 0)


@given(st.lists(st.integers(0, 50), max_size=30), st.integers(0, 5))
def test_reset_aware_increase_counts_every_increment(
    increments: list[int], restart_at: int
) -> None:
    """A counter restarting once; exact whenever the restart is visible in the samples."""
    value, points, expected, pre, post = 10.0, [], 0, 10.0, None
    for i, inc in enumerate(increments):
        if i == restart_at:
            pre, value = value, 0.0
        value += inc
        expected += inc
        if i == restart_at:
            post = value
        points.append((float(i + 1), value))
    total, resets = reset_aware_increase(10.0, points, 0.0)
    if post is None or post < pre:  # no restart, or a visible one (the value dropped)
        assert (total, resets) == (expected, 0 if post is None else 1)
    else:  # climbed back above its old value before the next scrape: invisible to any scraper
        assert (total, resets) == (expected - pre, 0)
