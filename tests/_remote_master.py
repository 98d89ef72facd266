"""Run inside the master's namespace (tests/test_remote_workers.py): one synthmon load run
whose workers start on other hosts, then what Prometheus saw of the target's request counter.

Prints one JSON line: the run's totals and window figures, the per-worker counts, and the raw
counter samples before and after the run; a run whose workers did not all come prints the
WorkersMissing line on stderr and exits 3.

Usage: python tests/_remote_master.py TARGET_URL PROMETHEUS_URL OUT_DIR LOCUSTFILE PROFILES
       PROFILE EXPECT BIND_HOST:PORT WAIT_S
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

from synthmon.errors import QueryError
from synthmon.load import RemoteWorkers, WorkersMissing, load_profiles, run_load, worker_counts
from synthmon.load.remote import parse_address
from synthmon.prom import Prometheus
from synthmon.waiting import NotYet, wait_until
from tests._netns_target import COUNTER


def samples(prom: Prometheus, seconds: int) -> list[tuple[float, float]]:
    """The counter's raw samples of the last ``seconds`` (not resampled)."""
    series = prom.query_matrix(f"{COUNTER}[{seconds}s]")
    return list(series[0].points) if series else []


def main(argv: list[str]) -> int:
    target, prom_url, out, locustfile, profiles, name, expect, bind, wait_s = argv
    host, port = parse_address(bind, "bind")
    profile = load_profiles(profiles)[name]
    with Prometheus(prom_url) as prom:
        wait_until(
            lambda: samples(prom, 60) or NotYet("no sample yet"),
            timeout_s=30,
            what="Prometheus's first scrape of the target",
            retry_on=(QueryError,),
        )
        started = time.time()
        remote = RemoteWorkers(int(expect), host, port, float(wait_s))
        # Users finish the request in flight at the stop (killed, it would be in the server's
        # counter only): the whole run's count is then the same number on both sides.
        stop = {"LOCUST_STOP_TIMEOUT": "5"}
        try:
            result = run_load(
                target,
                profile,
                Path(out),
                locustfile=Path(locustfile),
                remote=remote,
                extra_env=stop,
            )
        except WorkersMissing as exc:
            print(json.dumps({"missing_after_s": time.time() - started}))
            print(str(exc), file=sys.stderr)
            return 3
        ended = time.time()

        def after_run() -> list[tuple[float, float]] | NotYet:
            points = samples(prom, int(ended - started) + 30)
            return points if points and points[-1][0] > ended + 0.5 else NotYet(str(points[-1:]))

        points = wait_until(after_run, timeout_s=20, what="a scrape after the run")
    before = [p for p in points if p[0] < started]
    inside = [p for p in points if result.window_start <= p[0] <= result.window_end]
    window = {}
    if len(inside) >= 2:
        (a, va), (b, vb) = inside[0], inside[-1]
        client = result.client_figures(a, b)["requests"]
        window = {"start": a, "end": b, "prometheus": vb - va, "client": client}
    doc = {
        "total_requests": result.total_requests,
        "total_failures": result.total_failures,
        "requests": result.requests,
        "exact": result.exact,
        "valid": result.valid,
        "reason": result.reason,
        "workers": {k: asdict(v) for k, v in worker_counts(result.files["workers"]).items()},
        "before": before[-1][1] if before else None,
        "after": points[-1][1],
        "window": window,
        "pids": list(result.pids),
    }
    print(json.dumps(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
