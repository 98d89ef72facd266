"""The two measurements a capacity step needs besides the gate: how sure its decision is, and
whether the generator (not the server) was the limit.

Margin: a Wilson score interval on a binomial share (stdlib only: no scipy). A decision is
only taken when the whole interval lies on one side of the objective, so 200 requests do not
look as certain as 20,000.

Generator CPU: psutil samples every Locust process of ours (master and workers: children of
this process whose command line runs locust) while a step runs; the busiest process's CPU
over the step's window says whether Locust (single-threaded per process) was CPU-bound.
"CPU-bound" counts the time a process ran *or waited to run* (``/proc/PID/schedstat``'s run
delay): on a shared machine a starved generator gets less than a core, yet it was never idle.
"""

from __future__ import annotations

import math
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist
from types import TracebackType

import psutil

#: Two-sided confidence of a step's decision.
CONFIDENCE = 0.95
#: A Locust process at or above this share of one core is CPU-bound (Locust warns at 90%).
CPU_BOUND = 0.85
_SAMPLE_S = 0.5


@dataclass(frozen=True)
class Bound:
    """A share with its Wilson interval at :data:`CONFIDENCE`."""

    share: float
    low: float
    high: float
    n: int

    def side(self, limit: float) -> int:
        """+1: the whole interval is ≥ ``limit``; -1: the whole interval is below; 0: it
        straddles ``limit`` (too few samples to decide)."""
        if self.low >= limit:
            return 1
        if self.high < limit:
            return -1
        return 0


def wilson(successes: float, n: float, confidence: float = CONFIDENCE) -> Bound:
    """Wilson score interval of ``successes / n`` (n > 0)."""
    if n <= 0:
        raise ValueError("wilson: n must be > 0")
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return Bound(p, max(0.0, centre - half), min(1.0, centre + half), int(n))


@dataclass(frozen=True)
class CpuUse:
    """The generator's CPU over a window: the busiest Locust process and all together."""

    busiest: float  # CPU-seconds per second of the busiest process (1.0 = one core)
    total: float
    processes: int
    demand: float  # the busiest (running + runnable) share of the wall time of one process

    @property
    def bound(self) -> bool:
        return self.demand >= CPU_BOUND


class GeneratorCPU:
    """Samples the CPU time of this process's Locust children while the ``with`` block runs."""

    def __init__(self, interval_s: float = _SAMPLE_S) -> None:
        self.interval_s = interval_s
        self.samples: dict[int, list[tuple[float, float, float]]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="generator-cpu", daemon=True)

    def __enter__(self) -> GeneratorCPU:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        me = psutil.Process(os.getpid())
        while not self._stop.is_set():
            now = time.time()
            for child in me.children(recursive=True):
                try:
                    if not any("locust" in part for part in child.cmdline()):
                        continue
                    cpu = child.cpu_times()
                    waited = _run_delay(child.pid)
                except (psutil.Error, OSError):  # gone between listing and reading
                    continue
                point = (now, cpu.user + cpu.system, waited)
                self.samples.setdefault(child.pid, []).append(point)
            self._stop.wait(self.interval_s)

    def use(self, start: float, end: float) -> CpuUse | None:
        """CPU per second over [start, end] from the samples inside it (None: too few)."""
        rates, demands = [], []
        for points in self.samples.values():
            inside = [p for p in points if start <= p[0] <= end]
            if len(inside) >= 2 and inside[-1][0] > inside[0][0]:
                (t0, c0, w0), (t1, c1, w1) = inside[0], inside[-1]
                rates.append((c1 - c0) / (t1 - t0))
                demands.append((c1 - c0 + w1 - w0) / (t1 - t0))
        if not rates:
            return None
        return CpuUse(max(rates), sum(rates), len(rates), max(demands))


def _run_delay(pid: int) -> float:
    """Seconds ``pid`` has waited on a run queue (0 where schedstat is not available)."""
    try:
        fields = Path(f"/proc/{pid}/schedstat").read_text(encoding="ascii").split()
    except FileNotFoundError:
        return 0.0
    return int(fields[1]) / 1e9
