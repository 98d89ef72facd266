"""One step of a capacity search: a fixed offered rate, the gate over its steady window, and a
decision that says how sure it is and whether the generator kept up.

The SLOs are the gate's own (:func:`synthmon.slo.gate.gate_after_load`: scrape-aligned window,
exact bucket counts); this module only adds the margin of each decision
(:func:`~synthmon.load.capacity_stats.wilson`) and the generator's honesty.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from synthmon.load.capacity_stats import Bound, CpuUse, wilson
from synthmon.slo.report import ObjectiveResult, SLOReport
from synthmon.slo.spec import SLOSpec

Decision = Literal["pass", "fail", "undecided"]
Outcome = Literal["pass", "fail", "undecided", "generator-bound"]
#: Below this share of the offered rate a step did not get its load.
ACHIEVED_FRACTION = 0.9
THROUGHPUT = "throughput"  # the failed objective of a saturated server that fell behind


@dataclass(frozen=True)
class Margin:
    """One objective's decision in a step: the gate's verdict, the share, its interval."""

    name: str
    type: str
    verdict: str  # the gate's
    decision: Decision
    limit: float | None  # the share the interval is compared with (None: cpu, memory)
    share: float | None
    low: float | None
    high: float | None
    samples: int | None


def _count(row: ObjectiveResult, key: str) -> float | None:
    value = row.details.get(key)
    return float(value) if isinstance(value, int | float) else None


def margin(row: ObjectiveResult, percentile: float | None) -> Margin:
    """The row's decision: taken only when its whole interval lies on one side of the limit
    (``percentile``: a latency objective's share needed ≤ its threshold)."""
    bound: Bound | None = None
    limit: float | None = None
    total = _count(row, "requests")
    decision: Decision
    if row.type == "latency" and total and percentile is not None:
        limit, bound = percentile, wilson(_count(row, "fast") or 0.0, total)
        side = bound.side(limit)
        decision = "pass" if side > 0 else "fail" if side < 0 else "undecided"
    elif row.type == "error_rate" and total:
        limit, bound = row.threshold, wilson(_count(row, "errors") or 0.0, total)
        decision = "fail" if bound.low > limit else "pass" if bound.high <= limit else "undecided"
    else:
        decision = "undecided" if row.verdict == "error" else row.verdict
    if row.verdict == "error":
        decision = "undecided"
    elif row.verdict == "fail" and decision == "pass":
        decision = "fail"  # the gate knows more (e.g. a pipeline disagreement with Locust)
    return Margin(
        row.name,
        row.type,
        row.verdict,
        decision,
        limit,
        None if bound is None else bound.share,
        None if bound is None else bound.low,
        None if bound is None else bound.high,
        None if bound is None else bound.n,
    )


@dataclass(frozen=True)
class Step:
    """One offered rate, measured: what the gate said, how sure, and who was the limit."""

    index: int
    phase: str  # coarse | bisect
    offered_rps: float
    achieved_rps: float
    requests: int
    window: tuple[float, float]
    outcome: Outcome
    failed_objective: str | None
    reason: str
    margins: tuple[Margin, ...]
    generator_cpu: float | None  # busiest Locust process, cores
    generator_cpu_total: float | None
    generator_demand: float | None  # running or waiting to run, busiest process
    error_rate: float | None
    fast_share: float | None
    wall_s: float
    overhead_s: float  # wall time beyond the shape's ramp + hold (Locust start and stop)
    run_dir: str

    def to_dict(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["window"] = list(self.window)
        doc["margins"] = [asdict(m) for m in self.margins]
        return doc


def decide(
    report: SLOReport, spec: SLOSpec, offered: float, cpu: CpuUse | None
) -> tuple[Outcome, str | None, str, tuple[Margin, ...], float]:
    """The step's outcome, the objective that failed (if any), why, the margins, achieved."""
    percentiles = {o.name: o.percentile for o in spec.objectives}
    margins = tuple(margin(row, percentiles.get(row.name)) for row in report.results)
    seconds = report.end - report.start
    requests = report.client.requests if report.client else 0
    achieved = requests / seconds if seconds > 0 else 0.0
    short = achieved < ACHIEVED_FRACTION * offered
    cpu_text = (
        "n/a"
        if cpu is None
        else f"busiest of {cpu.processes} Locust processes: {cpu.busiest:.2f} core used, "
        f"{cpu.demand:.2f} running or runnable"
    )
    if short and cpu is not None and cpu.bound:
        why = (
            f"achieved {achieved:.1f} of {offered:.1f} req/s offered while the generator was "
            f"CPU-bound ({cpu_text}): the generator's limit, not the server's"
        )
        return "generator-bound", None, why, margins, achieved
    failed = [m for m in margins if m.decision == "fail"]
    if short:
        why = (
            f"achieved {achieved:.1f} of {offered:.1f} req/s offered (< {ACHIEVED_FRACTION:.0%})"
            f" with generator headroom ({cpu_text}): server saturation"
        )
        return "fail", failed[0].name if failed else THROUGHPUT, why, margins, achieved
    if failed:
        first = failed[0]
        return "fail", first.name, f"{first.name} failed: {_margin_text(first)}", margins, achieved
    open_ = [m for m in margins if m.decision == "undecided"]
    if open_:
        texts = "; ".join(f"{m.name}: {_margin_text(m)}" for m in open_)
        return "undecided", None, f"cannot be decided at {CONF_TEXT}: {texts}", margins, achieved
    return "pass", None, f"every objective held at {CONF_TEXT}", margins, achieved


CONF_TEXT = "95% confidence"


def _margin_text(m: Margin) -> str:
    if m.share is None or m.low is None or m.high is None:
        return f"gate verdict {m.verdict}"
    return f"{m.share:.2%} of {m.samples} (95% interval {m.low:.2%}..{m.high:.2%}) vs {m.limit:.2%}"
