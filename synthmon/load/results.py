"""Turn a finished Locust run's files into the measured-window result.

The window is [all users spawned, steady phase over], both instants written by synthmon's
shape (:mod:`synthmon.load.shape`, ``shape-timing.json``). Requests are cut to it from the
per-request records (``requests-*.tsv``, one per generating process; a request belongs to the
window when it *completed* inside it), which makes counts, rate and percentiles exact. Without
records (recording off) the counts are interpolated from Locust's 1 s stats history and p95
comes from the whole-run totals; ``exact`` says which.
"""

from __future__ import annotations

import csv
import json
import math
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Below this fraction of the target rate a run is not a valid measurement.
MIN_TARGET_FRACTION = 0.9


def record_line(request_type: str, name: str, response_time: float, exception: Any) -> str:
    """One request as a line of ``requests-*.tsv``, the format :class:`LoadResult` reads."""
    failed = 1 if exception else 0
    return f"{time.time():.6f}\t{request_type}\t{name}\t{response_time:.3f}\t{failed}\n"


@dataclass(frozen=True)
class EndpointStats:
    """Client-side figures for one ``METHOD name`` over the window."""

    method: str
    name: str
    requests: int
    failures: int
    rps: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None


@dataclass(frozen=True)
class LoadResult:
    """What one profile run measured between ramp-up end and steady-phase end."""

    profile: str
    target_url: str
    window_start: float
    window_end: float
    requests: int
    failures: int
    achieved_rps: float
    target_rps: float | None
    p95_ms: float | None
    valid: bool
    reason: str
    exact: bool
    total_requests: int
    total_failures: int
    endpoints: dict[str, EndpointStats] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)
    pids: tuple[int, ...] = ()

    @property
    def duration_s(self) -> float:
        return self.window_end - self.window_start

    def client_figures(self, start: float, end: float) -> dict[str, Any]:
        """Requests, failures and P95 of the requests *completed* in ``[start, end]`` (from the
        per-request records), for a window the gate moved onto Prometheus's scrape times."""
        records = sorted(self.files["window"].parent.glob("requests-*.tsv"))
        if not records:
            raise ValueError(f"no per-request records next to {self.files['window']}")
        _, latencies, failures, _, _ = from_records(records, Window(start, end, True, ""))
        return {
            "requests": len(latencies),
            "failures": failures,
            "p95_ms": percentile(latencies, 0.95),
        }

    def window_doc(self) -> dict[str, Any]:
        """``load-window.json``: what the gate CLI needs to query the same window server side."""
        return {
            "start": self.window_start,
            "end": self.window_end,
            "profile": self.profile,
            "target_url": self.target_url,
            "requests": self.requests,
            "failures": self.failures,
            "achieved_rps": self.achieved_rps,
            "target_rps": self.target_rps,
            "p95_ms": self.p95_ms,
            "valid": self.valid,
            "reason": self.reason,
            "exact": self.exact,
        }


@dataclass(frozen=True)
class Window:
    start: float
    end: float
    ramp_complete: bool
    users: str
    completed: bool = True  # False: Locust stopped before the steady phase was over


def read_window(timing_file: Path) -> Window:
    """The window from the shape's timing file (ValueError if the shape never got that far)."""
    doc = json.loads(timing_file.read_text(encoding="utf-8"))
    if doc.get("spawned_at") is None or doc.get("steady_end") is None:
        raise ValueError(f"{timing_file}: run ended before the steady phase began ({doc['why']})")
    steady_end, stopped_at = float(doc["steady_end"]), float(doc["stopped_at"])
    return Window(
        float(doc["spawned_at"]),
        min(steady_end, stopped_at),
        bool(doc["ramp_complete"]),
        str(doc["users"]),
        completed=stopped_at >= steady_end,
    )


def percentile(ordered: list[float], q: float) -> float | None:
    """Nearest-rank percentile of an ascending list (None when empty)."""
    if not ordered:
        return None
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def from_records(
    record_files: list[Path], window: Window
) -> tuple[list[EndpointStats], list[float], int, int, int]:
    """Per-endpoint stats, all window latencies, window failures and whole-run totals."""
    times: dict[tuple[str, str], list[float]] = defaultdict(list)
    fails: dict[tuple[str, str], int] = defaultdict(int)
    total = total_failed = 0
    for path in record_files:
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                ts, method, name, ms, failed = line.rstrip("\n").split("\t")
                total += 1
                total_failed += failed == "1"
                if window.start <= float(ts) <= window.end:
                    times[method, name].append(float(ms))
                    fails[method, name] += failed == "1"
    seconds = window.end - window.start
    endpoints, every = [], []
    for (method, name), values in sorted(times.items()):
        values.sort()
        every.extend(values)
        endpoints.append(
            EndpointStats(
                method,
                name,
                len(values),
                fails[method, name],
                len(values) / seconds if seconds > 0 else 0.0,
                percentile(values, 0.5),
                percentile(values, 0.95),
                percentile(values, 0.99),
                values[-1],
            )
        )
    every.sort()
    return endpoints, every, sum(fails.values()), total, total_failed


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def from_history(
    history_csv: Path, stats_csv: Path, window: Window
) -> tuple[int, int, float | None]:
    """Window requests and failures interpolated from the 1 s history; p95 of the whole run."""
    points = [
        (float(r["Timestamp"]), float(r["Total Request Count"]), float(r["Total Failure Count"]))
        for r in _rows(history_csv)
        if r["Name"] == "Aggregated"
    ]

    def at(t: float, column: int) -> float:
        before = [p for p in points if p[0] <= t] or points[:1]
        after = [p for p in points if p[0] >= t] or points[-1:]
        (t0, *v0), (t1, *v1) = before[-1], after[0]
        if t1 == t0:
            return v0[column]
        return v0[column] + (v1[column] - v0[column]) * (t - t0) / (t1 - t0)

    if not points:
        return 0, 0, None
    requests = round(at(window.end, 0) - at(window.start, 0))
    failures = round(at(window.end, 1) - at(window.start, 1))
    totals = [r for r in _rows(stats_csv) if r["Name"] == "Aggregated"]
    p95 = totals[0].get("95%") if totals else None
    return requests, failures, float(p95) if p95 not in (None, "", "N/A") else None


def csv_totals(stats_csv: Path) -> tuple[int, int]:
    """Whole-run request and failure counts from Locust's ``_stats.csv`` Aggregated row."""
    for row in _rows(stats_csv):
        if row["Name"] == "Aggregated":
            return int(row["Request Count"]), int(row["Failure Count"])
    return 0, 0


def verdict(
    window: Window, requests: int, achieved: float, target: float | None
) -> tuple[bool, str]:
    """Valid unless ramp-up overran, nothing was measured, or the rate fell short of target."""
    rate = f"achieved {achieved:.1f} req/s" + (f" vs target {target:.1f}" if target else "")
    if not window.ramp_complete:
        return False, f"ramp-up to {window.users} users overran ramp_s + grace; {rate}"
    if not window.completed:
        return False, f"stopped before the steady phase was over; {rate}"
    if window.end <= window.start or requests == 0:
        return False, f"no requests in the measured window; {rate}"
    if target is not None and achieved < MIN_TARGET_FRACTION * target:
        return False, (
            f"{rate} req/s ({100 * achieved / target:.0f}% < {100 * MIN_TARGET_FRACTION:.0f}%):"
            " the generator could not offer the rate, so latencies are understated"
            " (coordinated omission)"
        )
    return True, rate + (" req/s" if target else " (no target rate)")
