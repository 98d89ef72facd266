"""PNG plots of a load window: latency percentiles and error rate per second, threshold drawn.

A gate's verdict is one number per objective; the plot shows whether that number is a steady
state or one bad second. Data come from Locust's per-request records (exact per-second
percentiles over the requests completed in each second) or, without records, from Locust's
stats history (its rolling percentiles). Matplotlib's object API on the Agg canvas: no pyplot
state, no display, safe in any process.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from synthmon.load.results import LoadResult, percentile
from synthmon.slo.spec import SLOSpec

if TYPE_CHECKING:
    from synthmon.load.capacity import CapacityResult

Record = tuple[float, float, bool]  # completed at (unix s), latency (ms), failed


@dataclass(frozen=True)
class Second:
    """One second of the window (``t`` seconds after its start)."""

    t: float
    requests: int
    failures: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None

    @property
    def error_rate(self) -> float | None:
        return self.failures / self.requests if self.requests else None


@dataclass(frozen=True)
class Thresholds:
    """The lines drawn: the spec's all-endpoint latency and error-rate objectives."""

    latency_s: float | None = None
    percentile: float = 0.95
    error_rate: float | None = None

    @classmethod
    def from_spec(cls, spec: SLOSpec) -> Thresholds:
        latency = [o for o in spec.objectives if o.type == "latency" and o.endpoint is None]
        errors = [o for o in spec.objectives if o.type == "error_rate" and o.endpoint is None]
        return cls(
            latency_s=latency[0].threshold if latency else None,
            percentile=(latency[0].percentile or 0.95) if latency else 0.95,
            error_rate=errors[0].threshold if errors else None,
        )


def read_records(files: Iterable[Path]) -> list[Record]:
    """Locust's ``requests-*.tsv`` lines (completed_at, method, name, ms, failed)."""
    records: list[Record] = []
    for path in files:
        with path.open(encoding="utf-8") as fh:
            for number, line in enumerate(fh, 1):
                fields = line.rstrip("\n").split("\t")
                try:
                    records.append((float(fields[0]), float(fields[3]), fields[4] == "1"))
                except (IndexError, ValueError):
                    raise ValueError(
                        f"{path}:{number}: expected completed_at, method, name, ms, failed "
                        f"separated by tabs, got {line.strip()[:80]!r}"
                    ) from None
    return records


def per_second(records: Iterable[Record], start: float, end: float) -> list[Second]:
    """Per-second counts and nearest-rank percentiles of the records inside [start, end]."""
    count = max(1, math.ceil(end - start))
    buckets: dict[int, list[Record]] = {}
    for record in records:
        if start <= record[0] <= end:  # the instant ``end`` belongs to the last second
            buckets.setdefault(min(int(record[0] - start), count - 1), []).append(record)
    seconds = []
    for index in range(count):
        inside = buckets.get(index, [])
        latencies = sorted(ms for _, ms, _ in inside)
        seconds.append(
            Second(
                float(index),
                len(inside),
                sum(failed for _, _, failed in inside),
                percentile(latencies, 0.50),
                percentile(latencies, 0.95),
                percentile(latencies, 0.99),
            )
        )
    return seconds


def _number(text: str | None) -> float | None:
    return None if text in (None, "", "N/A") else float(text)


def from_history(history_csv: Path, start: float, end: float) -> list[Second]:
    """Seconds of Locust's stats history (Aggregated rows: rolling percentiles, rates)."""
    with history_csv.open(encoding="utf-8", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r.get("Name") == "Aggregated"]
    seconds = []
    for row in rows:
        stamp = float(row["Timestamp"])
        if start <= stamp <= end:
            rps, fps = _number(row["Requests/s"]) or 0.0, _number(row["Failures/s"]) or 0.0
            p50, p95, p99 = (_number(row[c]) for c in ("50%", "95%", "99%"))
            seconds.append(Second(stamp - start, round(rps), round(fps), p50, p95, p99))
    return seconds


def load_seconds(load: LoadResult) -> tuple[list[Second], str]:
    """The load window's seconds and where they came from."""
    records = (
        sorted(load.files["window"].parent.glob("requests-*.tsv")) if "window" in load.files else []
    )
    if records:
        data = per_second(read_records(records), load.window_start, load.window_end)
        return data, "Locust per-request records"
    history = load.files.get("history_csv")
    if history is None or not history.is_file():
        raise ValueError(f"load run {load.profile}: no per-request records and no stats history")
    return from_history(history, load.window_start, load.window_end), "Locust stats history"


def png(figure: Figure) -> bytes:
    """The figure as PNG bytes, drawn on the Agg canvas."""
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def _require_data(seconds: list[Second]) -> None:
    if not any(s.requests for s in seconds):
        raise ValueError("no requests in the load window: nothing to plot")


def latency_png(seconds: list[Second], thresholds: Thresholds, title: str) -> bytes:
    return png(latency_figure(seconds, thresholds, title))


def error_rate_png(seconds: list[Second], thresholds: Thresholds, title: str) -> bytes:
    return png(error_rate_figure(seconds, thresholds, title))


def latency_figure(seconds: list[Second], thresholds: Thresholds, title: str) -> Figure:
    """P50/P95/P99 per second in ms, with the latency objective's threshold as a line."""
    _require_data(seconds)
    figure = Figure(figsize=(9, 4), layout="constrained")
    axes = figure.add_subplot()
    t = [s.t for s in seconds]
    for name, values, style in (
        ("P50", [s.p50_ms for s in seconds], "-"),
        ("P95", [s.p95_ms for s in seconds], "-"),
        ("P99", [s.p99_ms for s in seconds], ":"),
    ):
        axes.plot(t, [float("nan") if v is None else v for v in values], style, label=name)
    if thresholds.latency_s is not None:
        axes.axhline(
            thresholds.latency_s * 1000, color="red", linestyle="--",
            label=f"SLO: P{thresholds.percentile * 100:g} <= {thresholds.latency_s * 1000:g} ms",
        )  # fmt: skip
    axes.set(title=title, xlabel="seconds into the load window", ylabel="latency (ms)")
    axes.set_ylim(bottom=0)
    axes.grid(alpha=0.3)
    axes.legend(loc="upper left")
    return figure


def error_rate_figure(seconds: list[Second], thresholds: Thresholds, title: str) -> Figure:
    """Error rate per second (%) as bars, request rate behind it, the threshold as a line."""
    _require_data(seconds)
    figure = Figure(figsize=(9, 4), layout="constrained")
    axes = figure.add_subplot()
    t = [s.t for s in seconds]
    rates = [100 * r if (r := s.error_rate) is not None else float("nan") for s in seconds]
    axes.bar(t, rates, width=0.8, color="tab:orange", label="errors (%)")
    if thresholds.error_rate is not None:
        axes.axhline(
            thresholds.error_rate * 100, color="red", linestyle="--",
            label=f"SLO: error rate <= {thresholds.error_rate * 100:g}%",
        )  # fmt: skip
    axes.set(title=title, xlabel="seconds into the load window", ylabel="failed requests (%)")
    shown = [r for r in rates if r == r]  # NaN: a second without requests has no rate
    axes.set_ylim(bottom=0, top=max([*shown, (thresholds.error_rate or 0) * 100, 0.1]) * 1.3)
    axes.grid(alpha=0.3)
    traffic = axes.twinx()
    traffic.plot(t, [s.requests for s in seconds], color="tab:gray", alpha=0.5, label="req/s")
    traffic.set_ylabel("requests per second")
    traffic.set_ylim(bottom=0, top=max(s.requests for s in seconds) * 1.6)  # below the legend
    handles, labels = axes.get_legend_handles_labels()
    more, more_labels = traffic.get_legend_handles_labels()
    axes.legend(handles + more, labels + more_labels, loc="upper left")
    return figure


def summary(seconds: list[Second]) -> tuple[int, int]:
    """Requests and failures over the plotted seconds (for titles)."""
    return sum(s.requests for s in seconds), sum(s.failures for s in seconds)


def capacity_png(result: CapacityResult, thresholds: Thresholds) -> bytes:
    return png(capacity_figure(result, thresholds))


def capacity_figure(result: CapacityResult, thresholds: Thresholds) -> Figure:
    """A capacity search step by step: offered and achieved rate (the knee interval shaded),
    then the share of requests within the latency threshold and the error rate, limits drawn.
    """
    steps = result.steps
    if not steps:
        raise ValueError(f"capacity search {result.profile}: no steps to plot")
    figure = Figure(figsize=(9, 7), layout="constrained")
    rate_axes, share_axes = figure.subplots(2, 1, sharex=True)
    x = [s.index for s in steps]
    rate_axes.plot(x, [s.offered_rps for s in steps], "o--", color="tab:gray", label="offered")
    rate_axes.plot(x, [s.achieved_rps for s in steps], "s-", color="tab:blue", label="achieved")
    for step in steps:
        rate_axes.annotate(
            step.outcome, (step.index, step.achieved_rps), textcoords="offset points",
            xytext=(0, 8), ha="center", fontsize=8, color=_OUTCOME_COLOURS[step.outcome],
        )  # fmt: skip
    knee = result.knee
    if knee.low is not None and knee.high is not None:
        rate_axes.axhspan(knee.low, knee.high, color="tab:red", alpha=0.15, label="knee")
    elif knee.low is not None:
        rate_axes.axhline(knee.low, color="tab:red", linestyle=":", label="at least")
    rate_axes.set(title=f"Capacity {result.profile}: {knee.text()}"[:110], ylabel="req/s")
    rate_axes.set_ylim(bottom=0)
    rate_axes.grid(alpha=0.3)
    rate_axes.legend(loc="upper left")
    fast = [100 * s.fast_share if s.fast_share is not None else math.nan for s in steps]
    errors = [100 * s.error_rate if s.error_rate is not None else math.nan for s in steps]
    share_axes.plot(x, fast, "o-", color="tab:green", label="share <= latency threshold (%)")
    if thresholds.latency_s is not None:
        share_axes.axhline(
            thresholds.percentile * 100, color="tab:green", linestyle="--",
            label=f"needed: {thresholds.percentile * 100:g}% <= {thresholds.latency_s * 1000:g} ms",
        )  # fmt: skip
    share_axes.set(xlabel="step", ylabel="requests within threshold (%)")
    share_axes.set_ylim(0, 105)
    share_axes.grid(alpha=0.3)
    error_axes = share_axes.twinx()
    error_axes.plot(x, errors, "^-", color="tab:orange", label="error rate (%)")
    if thresholds.error_rate is not None:
        error_axes.axhline(
            thresholds.error_rate * 100, color="tab:orange", linestyle="--",
            label=f"limit: {thresholds.error_rate * 100:g}% errors",
        )  # fmt: skip
    shown = [e for e in errors if e == e]
    error_axes.set_ylim(0, max([*shown, (thresholds.error_rate or 0) * 100, 1.0]) * 1.5)
    error_axes.set_ylabel("errors (%)")
    handles, labels = share_axes.get_legend_handles_labels()
    more, more_labels = error_axes.get_legend_handles_labels()
    share_axes.legend(handles + more, labels + more_labels, loc="lower left", fontsize=8)
    share_axes.set_xticks(x)
    return figure


_OUTCOME_COLOURS = {
    "pass": "tab:green",
    "fail": "tab:red",
    "undecided": "tab:purple",
    "generator-bound": "tab:brown",
}
