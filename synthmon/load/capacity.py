"""Capacity search: the highest offered rate at which every SLO still holds, as an interval.

Coarse steps (``start_rps * step_factor^k``) go up until a step fails, then bisection (in the
geometric middle: the rate's error is relative) between the last passing and the first
failing rate until they are within ``precision`` of each other. Each step is one Locust run
(:func:`synthmon.load.run_load` at a fixed constant-throughput rate) and the gate over its
steady window (after ``settle_s``). Why one run per step rather than one steered shape: the
measured window, the per-request records and the gate are then exactly those of a normal
load run; the price is Locust's start and stop per step (``Step.overhead_s``, ~2-3 s).

A step that cannot be decided (its margin straddles an objective) or that the generator could
not drive (generator-bound) ends the search: the knee is then "at least" the last pass.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from synthmon.errors import ConfigError
from synthmon.load.capacity_stats import GeneratorCPU
from synthmon.load.capacity_step import Step, decide
from synthmon.load.profiles import LoadProfile
from synthmon.load.results import LoadResult
from synthmon.load.runner import run_load
from synthmon.prom import Prometheus
from synthmon.slo.gate import gate_after_load
from synthmon.slo.spec import SLOSpec

#: A step runner: (profile at one rate, its output directory) -> the Locust run's result.
StepRunner = Callable[[LoadProfile, Path], LoadResult]


@dataclass(frozen=True)
class Knee:
    """[low, high]: the last passing and the first failing offered rate (req/s)."""

    low: float | None
    high: float | None
    at_least: bool  # only a lower bound: the search stopped before a decided failure
    failed_objective: str | None
    reason: str

    def text(self) -> str:
        if self.at_least and self.low is None:
            return f"unknown: not even the first step decided ({self.reason})"
        if self.at_least:
            return f"at least {self.low:.1f} req/s ({self.reason})"
        low = "below" if self.low is None else f"{self.low:.1f} .."
        return f"{low} {self.high:.1f} req/s (fails on {self.failed_objective}; {self.reason})"


@dataclass(frozen=True)
class CapacityResult:
    """The search: its knee, every step in order, and whether the generator was the limit."""

    profile: str
    knee: Knee
    steps: tuple[Step, ...]
    generator_bound: bool
    wall_s: float
    thresholds: Mapping[str, float]  # objective name -> share limit (for the plot)

    def to_dict(self) -> dict[str, Any]:
        """The ``capacity`` key of slo-report.json (names read by the regression gate)."""
        k = self.knee
        return {
            "profile": self.profile,
            "knee": {
                "low": k.low,
                "high": k.high,
                "at_least": k.at_least,
                "failed_objective": k.failed_objective,
                "reason": k.reason,
            },
            "steps": [s.to_dict() for s in self.steps],
            "generator_bound": self.generator_bound,
            "wall_s": round(self.wall_s, 3),
        }


class _Search:
    def __init__(
        self,
        profile: LoadProfile,
        spec: SLOSpec,
        prom: Prometheus,
        out_dir: Path,
        run_step: StepRunner,
        scrape_settle_s: float,
    ) -> None:
        if profile.capacity is None:
            raise ConfigError(f"profile {profile.name}: expected kind: capacity")
        self.profile, self.search = profile, profile.capacity
        self.spec, self.prom, self.out_dir = spec, prom, out_dir
        self.run_step, self.scrape_settle_s = run_step, scrape_settle_s
        self.steps: list[Step] = []
        self.started = time.monotonic()

    def step(self, rate: float, phase: str) -> Step:
        search = self.search
        fixed = self.profile.at_rate(rate)
        run_dir = self.out_dir / f"step-{len(self.steps) + 1:02d}-{rate:.1f}rps"
        began = time.monotonic()
        with GeneratorCPU() as cpu:
            result = self.run_step(fixed, run_dir)
        measured = replace(result, window_start=result.window_start + search.settle_s)
        report = gate_after_load(self.spec, self.prom, measured, self.scrape_settle_s)
        wall = time.monotonic() - began
        use = cpu.use(report.start, report.end)
        outcome, failed, reason, margins, achieved = decide(report, self.spec, rate, use)
        shares = [m.share for m in margins if m.type == "error_rate" and m.share is not None]
        if report.client is not None and report.client.failure_rate is not None:
            shares.append(report.client.failure_rate)  # Locust's view: also without an objective
        error_rate = max(shares, default=None)
        fast = [m.share for m in margins if m.type == "latency" and m.share is not None]
        done = Step(
            index=len(self.steps) + 1,
            phase=phase,
            offered_rps=rate,
            achieved_rps=achieved,
            requests=report.client.requests if report.client else 0,
            window=(report.start, report.end),
            outcome=outcome,
            failed_objective=failed,
            reason=reason,
            margins=margins,
            generator_cpu=None if use is None else use.busiest,
            generator_cpu_total=None if use is None else use.total,
            generator_demand=None if use is None else use.demand,
            error_rate=error_rate,
            fast_share=min(fast) if fast else None,
            wall_s=wall,
            overhead_s=max(0.0, wall - _shape_s(result) - self.scrape_settle_s),
            run_dir=str(run_dir),
        )
        self.steps.append(done)
        return done

    def out_of_time(self) -> bool:
        """True when one more step would pass ``max_duration_s``."""
        each = max((s.wall_s for s in self.steps), default=0.0)
        return time.monotonic() - self.started + each > self.search.max_duration_s

    def aborted(self, step: Step) -> bool:
        return step.error_rate is not None and step.error_rate > self.search.abort_error_rate

    def run(self) -> Knee:
        search = self.search
        low: float | None = None
        rate = search.start_rps
        while True:  # coarse
            step = self.step(rate, "coarse")
            if step.outcome != "pass" and step.outcome != "fail":
                return Knee(low, None, True, None, f"step {step.index}: {step.reason}")
            if step.outcome == "fail":
                high, failed = rate, step.failed_objective
                if self.aborted(step):
                    why = f"aborted: errors above {search.abort_error_rate:.0%} at {rate:g} req/s"
                    return Knee(low, high, False, failed, why)
                break
            low = rate
            if rate >= search.max_rps:
                return Knee(low, None, True, None, f"max_rps {search.max_rps:g} passed")
            if self.out_of_time():
                return Knee(low, None, True, None, f"max_duration_s {search.max_duration_s:g}")
            rate = min(rate * search.step_factor, search.max_rps)
        while low is not None and high > low * (1 + search.precision):  # bisection
            if self.out_of_time():
                why = f"max_duration_s {search.max_duration_s:g} before {search.precision:.0%}"
                return Knee(low, high, False, failed, why)
            step = self.step(math.sqrt(low * high), "bisect")
            if step.outcome == "pass":
                low = step.offered_rps
            elif step.outcome == "fail":
                high, failed = step.offered_rps, step.failed_objective
                if self.aborted(step):
                    return Knee(low, high, False, failed, "aborted: errors above abort rate")
            else:
                return Knee(low, high, True, failed, f"step {step.index}: {step.reason}")
        if low is None:
            return Knee(None, high, False, failed, "the first step failed: below start_rps")
        return Knee(low, high, False, failed, f"within {search.precision:.0%}")


def _shape_s(result: LoadResult) -> float:
    """How long Locust's shape ran (start to window end): the rest of a step's wall time is
    Locust starting and stopping, the price of one run per step."""
    try:
        doc = json.loads(result.files["timing"].read_text(encoding="utf-8"))
        return result.window_end - float(doc["test_start"])
    except (KeyError, OSError, TypeError, ValueError):
        return result.window_end - result.window_start


def search_capacity(
    target_url: str,
    profile: LoadProfile,
    spec: SLOSpec,
    prom: Prometheus,
    out_dir: Path,
    *,
    locustfile: Path,
    workers: int = 0,
    scrape_settle_s: float = 2.0,
    extra_env: Mapping[str, str] | None = None,
) -> CapacityResult:
    """Search ``profile`` (``kind: capacity``) against ``target_url``; writes
    ``capacity.json`` into ``out_dir``. ``scrape_settle_s``: how long after a window its last
    samples are in Prometheus (scrape + evaluation interval)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    def run_step(fixed: LoadProfile, run_dir: Path) -> LoadResult:
        return run_load(
            target_url,
            fixed,
            run_dir,
            locustfile=locustfile,
            workers=workers,
            extra_env=extra_env,
        )

    search = _Search(profile, spec, prom, out_dir, run_step, scrape_settle_s)
    knee = search.run()
    limits = {o.name: o.percentile if o.type == "latency" else o.threshold for o in spec.objectives}
    result = CapacityResult(
        profile.name,
        knee,
        tuple(search.steps),
        any(s.outcome == "generator-bound" for s in search.steps),
        time.monotonic() - search.started,
        {k: v for k, v in limits.items() if v is not None},
    )
    (out_dir / "capacity.json").write_text(
        json.dumps(result.to_dict(), indent=2, allow_nan=False) + "\n", encoding="utf-8"
    )
    return result
