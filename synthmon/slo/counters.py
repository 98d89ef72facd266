"""Exact counter increases over a window, without increase()'s extrapolation.

``increase(x[w])`` extrapolates from the first and last sample inside the range to the range's
edges and drops the first sample of a series born inside the range, so its counts are
fractional and can be off by a scrape interval's worth of traffic. A gate needs counts.

Method: the raw counter value of every series at ``start`` and at ``end`` (instant queries:
the last scraped sample at or before each instant) and their difference. This counts exactly
the increments scraped in (start, end]. A series absent at ``start`` was born in the window
and is counted from 0 (the app creates its labelled counters at 0). When a counter reset (an
app restart) or a series that disappeared is detected, the raw samples of the window are
fetched and summed reset-aware (a drop means the process restarted from 0: the new value is
all new increments), which is exact too, just heavier. (A restarted counter that climbs
back above its old value before the next scrape is invisible to any scrape-based method.)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from synthmon.prom import Prometheus, Sample
from synthmon.slo import promql

LabelKey = tuple[tuple[str, str], ...]

# Instant queries look back 5 minutes for the sample at ``start``: resets are searched from
# there on so that a restart between that sample and the window's first one is not missed.
LOOKBACK_S = 300


def label_key(labels: Mapping[str, str]) -> LabelKey:
    """A hashable identity of a series, without ``__name__`` (functions drop it)."""
    return tuple(sorted((k, v) for k, v in labels.items() if k != "__name__"))


def reset_aware_increase(
    baseline: float | None, points: Iterable[tuple[float, float]], start: float
) -> tuple[float, int]:
    """(increase, resets) from ``baseline`` (value at start; None = born later) over points.

    Points at or before ``start`` are already in the baseline and skipped. A value lower than
    its predecessor is a reset: the process restarted at 0, so the value itself is new.
    """
    previous = 0.0 if baseline is None else baseline
    total = 0.0
    resets = 0
    for ts, value in points:
        if ts <= start:
            continue
        if value >= previous:
            total += value - previous
        else:
            total += value
            resets += 1
        previous = value
    return total, resets


@dataclass(frozen=True)
class CounterIncrease:
    """Per-series exact increases of one counter selector over the window."""

    selector: str
    per_series: Mapping[LabelKey, float]
    promql: tuple[str, ...]
    resets: int

    def total(self) -> float:
        return sum(self.per_series.values())


def _by_key(samples: Sequence[Sample]) -> dict[LabelKey, float]:
    return {label_key(s.labels): s.value for s in samples}


def exact_increase(prom: Prometheus, selector: str, start: float, end: float) -> CounterIncrease:
    """Exact increase of every series of ``selector`` over (start, end]; see module doc."""
    seconds = math.ceil(end - start)  # range selectors: whole seconds, never shorter
    at_start = _by_key(prom.query(selector, at=start))
    at_end = _by_key(prom.query(selector, at=end))
    resets_query = promql.resets(selector, seconds + LOOKBACK_S)
    reset_counts = _by_key(prom.query(resets_query, at=end))
    at_s, at_e = promql.number(start), promql.number(end)
    queries = (f"{selector} @ {at_s}", f"{selector} @ {at_e}", f"{resets_query} @ {at_e}")
    clean = (
        not any(reset_counts.values())
        and set(reset_counts) <= set(at_end)
        and set(at_start) <= set(at_end)
        and all(at_end[k] >= v for k, v in at_start.items())
    )
    if clean:
        per_series = {k: v - at_start.get(k, 0.0) for k, v in at_end.items()}
        return CounterIncrease(selector, per_series, queries, 0)
    raw_query = promql.raw_range(selector, seconds)
    per_series = {}
    total_resets = 0
    for series in prom.query_matrix(raw_query, at=end):
        key = label_key(series.labels)
        increase, resets = reset_aware_increase(at_start.get(key), series.points, start)
        per_series[key] = increase
        total_resets += resets
    return CounterIncrease(selector, per_series, (*queries, f"{raw_query} @ {at_e}"), total_resets)
