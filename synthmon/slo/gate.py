"""The gate after a load run: wait for the last samples, align the window to the scrapes,
recount Locust's figures over the same instants, evaluate every objective.

Why align: a counter sampled at scrape time ``s`` holds the requests completed before ``s``.
Over a load window that does not start and end on scrapes, Prometheus sees the traffic of a
window shifted by up to one scrape interval, a 10% difference on a 10 s window at a 1 s
scrape. Moving both ends onto sample timestamps inside the load window makes Prometheus's and
Locust's counts cover the same requests, so the cross-check can stay tight.

The report carries the fingerprint of the machine the load ran on and of the profile and spec
(synthmon.fingerprint): a later regression gate compares only like with like.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping

from synthmon.errors import QueryError
from synthmon.fingerprint import machine_fingerprint
from synthmon.load import LoadResult
from synthmon.prom import Prometheus
from synthmon.slo.client import ClientStats
from synthmon.slo.evaluate import evaluate
from synthmon.slo.promql import selector
from synthmon.slo.report import SLOReport
from synthmon.slo.spec import SLOSpec


def scrape_aligned(
    prom: Prometheus, spec: SLOSpec, window: tuple[float, float]
) -> tuple[float, float]:
    """The first and last scrape of the spec's target inside ``window`` (unix seconds)."""
    start, end = window
    length = max(1, round(end - start + 1))
    up = selector("up", spec.selector)
    series = prom.query_matrix(f"{up}[{length}s]", at=end)
    stamps = sorted({t for s in series for t, _ in s.points if start <= t <= end})
    if len(stamps) < 2:
        raise QueryError(
            f"no data: fewer than 2 scrapes of {up} between {start:.3f} and {end:.3f}; "
            "is the target scraped?"
        )
    return stamps[0], stamps[-1]


def fingerprinted(
    report: SLOReport,
    spec: SLOSpec,
    profile: object = None,
    setup: Mapping[str, str] | None = None,
) -> SLOReport:
    """``report`` with this machine's fingerprint, the spec's and ``profile``'s hashes (a
    ``LoadProfile`` or any dataclass/mapping defining the load; None: not known)."""
    return dataclasses.replace(report, fingerprint=machine_fingerprint(profile, spec, setup=setup))


def gate_after_load(
    spec: SLOSpec,
    prom: Prometheus,
    load: LoadResult,
    settle_s: float,
    profile: object = None,
    setup: Mapping[str, str] | None = None,
) -> SLOReport:
    """Evaluate ``spec`` over ``load``'s steady window once ``settle_s`` has passed after it;
    the report is :func:`fingerprinted` with ``profile`` (the one ``load`` ran)."""
    time.sleep(max(0.0, load.window_end + settle_s - time.time()))
    try:
        window = scrape_aligned(prom, spec, (load.window_start, load.window_end))
    except QueryError:
        window = (load.window_start, load.window_end)  # evaluate() reports the missing data
    client = ClientStats(**load.client_figures(*window))
    return fingerprinted(evaluate(spec, prom, window, client), spec, profile, setup)
