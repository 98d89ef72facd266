"""Capacity against the last release: did the knee drop by more than the margin allows?

The report's ``capacity`` key (the capacity search) holds the knee as an interval
``[low, high]``: ``low`` the highest rate that passed, ``high`` the lowest that failed. Like is
compared with like: the low ends of both knees. Capacity is "higher is better", so the margin
is an allowed *drop* (``capacity=10%``: the low end may fall to 90% of the baseline's).

What can be concluded, and what cannot (exit 2, "cannot be vouched for", never a flaky 1):

* the fingerprints (machine, confinement, profile, spec) must be recorded and equal;
* a margin smaller than the baseline's own spread (its knee interval's width, and the spread
  of its repeated searches' low ends) is below what the baseline can resolve;
* "at least X" (a search that stopped before a knee, or a generator-bound one) is a lower
  bound: a current "at least" at or above the floor passes; a baseline "at least" can only
  be shown to be beaten (the current knee's *high* end below the floor is a regression).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from synthmon.errors import ConfigError
from synthmon.fingerprint import Fingerprint, differences

Verdict = Literal["ok", "regressed", "error"]
_EPS = 1e-9


@dataclass(frozen=True)
class Knee:
    low: float
    high: float | None  # None only for "at least low"
    at_least: bool = False
    failed_objective: str | None = None


@dataclass(frozen=True)
class Capacity:
    """The capacity search of one report, as far as a regression needs it."""

    knee: Knee
    generator_bound: bool = False
    searches: tuple[Knee, ...] = ()  # repeated searches of the same run, when recorded

    @property
    def lower_bound_only(self) -> bool:
        return self.knee.at_least or self.generator_bound or self.knee.high is None

    def spread(self) -> tuple[float, str]:
        """The relative spread the search itself measured, and how it was measured."""
        found = [(0.0, "")]
        low, high = self.knee.low, self.knee.high
        if high is not None and not self.lower_bound_only:
            width = (high - low) / low
            found.append(
                (width, f"its knee [{rate(low)}, {rate(high)}] req/s is {pct(width)} wide")
            )
        lows = [k.low for k in self.searches]
        if len(lows) >= 2:
            span = (max(lows) - min(lows)) / low
            found.append(
                (span, f"its {len(lows)} searches' low ends span "
                       f"{rate(min(lows))}..{rate(max(lows))} req/s, {pct(span)}")
            )  # fmt: skip
        return max(found)


def rate(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def pct(fraction: float) -> str:
    return f"{fraction * 100:.1f}%"


def _number(doc: dict[str, object], key: str, where: str, nullable: bool = False) -> float | None:
    value = doc.get(key)
    if value is None and nullable:
        return None
    number = float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0
    if math.isfinite(number) and number > 0:
        return number
    null = " or null" if nullable else ""
    raise ConfigError(f"{where}.{key}: expected a rate > 0{null}, got {value!r:.80}")


def _knee(doc: object, where: str) -> Knee:
    if not isinstance(doc, dict):
        raise ConfigError(f"{where}: expected an object with low and high, got {doc!r:.80}")
    at_least = doc.get("at_least", False)
    if not isinstance(at_least, bool):
        raise ConfigError(f"{where}.at_least: expected true or false, got {at_least!r:.80}")
    # low null: not even the first step passed (the capacity is below it: 0 as the low end)
    low = _number(doc, "low", where, nullable=True) or 0.0
    high = _number(doc, "high", where, nullable=at_least)
    if high is not None and high < low:
        raise ConfigError(f"{where}.high: {rate(high)} is below low {rate(low)}")
    failed = doc.get("failed_objective")
    if failed is not None and not isinstance(failed, str):
        raise ConfigError(f"{where}.failed_objective: expected a string or null, got {failed!r}")
    return Knee(low, high, at_least, failed)


def parse_capacity(doc: object, where: str) -> Capacity | None:
    """The report's ``capacity`` (None when absent); one-line ConfigError naming the key."""
    if doc is None:
        return None
    if not isinstance(doc, dict):
        raise ConfigError(f"{where}: expected an object with a knee, got {doc!r:.80}")
    bound = doc.get("generator_bound", False)
    if not isinstance(bound, bool):
        raise ConfigError(f"{where}.generator_bound: expected true or false, got {bound!r:.80}")
    searches = doc.get("searches", [])
    if not isinstance(searches, list):
        raise ConfigError(f"{where}.searches: expected a list of knees, got {searches!r:.80}")
    return Capacity(
        _knee(doc.get("knee"), f"{where}.knee"),
        bound,
        tuple(_knee(k, f"{where}.searches[{i}]") for i, k in enumerate(searches)),
    )


@dataclass(frozen=True)
class CapacityVerdict:
    baseline: str
    current: str
    change: str
    verdict: Verdict
    reason: str


def _shown(cap: Capacity) -> str:
    return f"at least {rate(cap.knee.low)}" if cap.lower_bound_only else rate(cap.knee.low)


def _why_lower_bound(cap: Capacity) -> str:
    if cap.generator_bound:
        return "the load generator was CPU-bound"
    return "its search stopped before a step failed"


def _fingerprints(base: Fingerprint | None, now: Fingerprint | None) -> str | None:
    """Why two reports' capacities are not comparable, or None."""
    if base is None or now is None:
        side = "baseline" if base is None else "current report"
        return f"the {side} records no fingerprint (machine, confinement, profile)"
    differ, unknown = differences(base, now)
    if differ:
        return "measured differently: " + ", ".join(differ)
    return "; ".join(unknown) or None


def compare_capacity(
    base: Capacity,
    now: Capacity,
    allowed_drop: float,
    fingerprints: tuple[Fingerprint | None, Fingerprint | None],
) -> CapacityVerdict:
    """``now``'s knee against ``base``'s with a relative ``allowed_drop`` (0.10 for 10%)."""
    low_b, low_n = base.knee.low, now.knee.low
    if low_b == 0:
        return CapacityVerdict(
            _shown(base), _shown(now), "", "error",
            "capacity: cannot be vouched for: the baseline's search passed no step "
            f"(capacity {_shown(base)} req/s): there is no knee to compare with",
        )  # fmt: skip
    change = (low_n - low_b) / low_b
    shown = f"capacity {_shown(base)} -> {_shown(now)} req/s (knee low ends): {change * 100:+.1f}%"
    allowed = f"{allowed_drop * 100:g}%"

    def result(verdict: Verdict, reason: str) -> CapacityVerdict:
        return CapacityVerdict(_shown(base), _shown(now), f"{change * 100:+.1f}%", verdict, reason)

    def cannot(why: str) -> CapacityVerdict:
        return result("error", f"capacity: cannot be vouched for: {why}; {shown}")

    unlike = _fingerprints(*fingerprints)
    if unlike:
        return cannot(unlike)
    if base.lower_bound_only and now.lower_bound_only:
        return cannot("neither search found a knee (both are lower bounds)")
    spread, how = base.spread()
    if allowed_drop < spread - _EPS:
        return cannot(
            f"the {allowed} allowed is less than the baseline's own spread ({how}); "
            f"allow at least {pct(spread)} or measure a tighter baseline"
        )
    floor = low_b * (1 - allowed_drop)
    if base.lower_bound_only:
        high = now.knee.high
        assert high is not None  # not both lower bounds
        if high < floor - _EPS:
            return result(
                "regressed",
                f"{shown} (this run failed at {rate(high)}, below the baseline's lower bound "
                f"by more than the {allowed} allowed)",
            )
        return cannot(
            f"the baseline shows only at least {rate(low_b)} req/s ({_why_lower_bound(base)}), "
            f"so this run's {rate(low_n)}..{rate(high)} cannot be shown to be within {allowed}"
        )
    if low_n < floor - _EPS:
        if now.lower_bound_only:
            return cannot(
                f"this run shows only at least {rate(low_n)} req/s ({_why_lower_bound(now)}), "
                f"below the {rate(floor)} the {allowed} allowed needs: its capacity is unknown"
            )
        return result("regressed", f"{shown}, more than the {allowed} allowed")
    bound = f" (at least: {_why_lower_bound(now)})" if now.lower_bound_only else ""
    return result("ok", f"{shown}, within the {allowed} allowed{bound}")
