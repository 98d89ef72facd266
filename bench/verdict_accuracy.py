"""Is the P95 < 200 ms verdict right near the threshold? (Prints a table, asserts nothing.)

For each target, 10,000 latencies from a fixed-seed mixture (log-normal body + exponential
tail, the tail stretched so the nearest-rank P95 is exactly the target) are observed into two
histograms that a real Prometheus scrapes, then decided three ways against the truth:
- exact bucket: synthmon.slo.evaluate, app's buckets (le=0.2 exists): share <= 0.2 s >= 95%;
- histogram_quantile(0.95, increase(...)) with prometheus_client's DEFAULT_BUCKETS;
- Locust's P95: its rounding and percentile code (locust/stats.py, replicated below because
  importing locust monkey-patches the process; checked against the real one in a subprocess).
Verdicts use the gate's inclusive convention: P95 <= 200 ms passes. Run:
    .venv/bin/python bench/verdict_accuracy.py [--targets 180,195,205,220] [--seed 7]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Histogram, start_http_server

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "manager-app"))

from app.metrics import LATENCY_BUCKETS

from synthmon.prom import Prometheus, wait_until
from synthmon.slo import SLOReport, evaluate
from synthmon.slo.client import client_stats_from
from synthmon.slo.promql import DURATION_BUCKET, increase_quantile, selector
from synthmon.slo.spec import parse_spec

N, RANK, LIMIT_MS = 10_000, 9_500, 200.0  # nearest rank of P95 among N: ceil(0.95 * N)
LABELS, DURATION = ("method", "endpoint"), "http_request_duration_seconds"
HEAD = "true P95|truth|true <=0.2s|exact share (Prom)|exact|hq default|hq|Locust P95|Locust|"
REAL_LOCUST = """import json, sys
from locust.stats import StatsEntry, RequestStats
for xs in json.load(sys.stdin):
    e = StatsEntry(RequestStats(), "x", "GET")
    [e.log(x, 0) for x in xs]
    print(e.get_response_time_percentile(0.95))"""


def sample(target_ms: float, seed: int) -> list[float]:
    """N latencies (ms) whose RANK-th smallest is exactly ``target_ms``."""
    rng = random.Random(seed)
    mix = [(rng.random(), rng.lognormvariate(math.log(45), 0.45), rng.expovariate(0.01))
           for _ in range(N)]  # fmt: skip
    xs = sorted(body if pick < 0.92 else 110 + tail for pick, body, tail in mix)
    pivot, k = xs[RANK - 1000], (target_ms - xs[RANK - 1000]) / (xs[RANK - 1] - xs[RANK - 1000])
    xs = [x if x <= pivot else pivot + (x - pivot) * k for x in xs]  # stretch above the P90
    xs[RANK - 1] = target_ms  # exact, whatever the float arithmetic did
    return xs


def bucket_response_time(response_time: float) -> int:
    """locust 2.47.0 locust/stats.py:124-142 (StatsEntry._log_response_time's rounding)."""
    if response_time < 100:
        return round(response_time)
    elif response_time < 1000:
        return int(round(response_time, -1))
    elif response_time < 10000:
        return int(round(response_time, -2))
    return int(round(response_time, -3))


def locust_percentile(times: dict[int, int], num_requests: int, percent: float) -> int:
    """locust 2.47.0 locust/stats.py:161-179 (calculate_response_time_percentile)."""
    num_of_request = int(num_requests * percent)
    processed_count = 0
    for response_time in sorted(times.keys(), reverse=True):
        processed_count += times[response_time]
        if num_requests - processed_count <= num_of_request:
            return response_time
    return 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def exporter(buckets: tuple[float, ...], targets: list[int]) -> tuple[int, Histogram, Any]:
    """A private registry on a free port with the app's histogram name, children pre-created."""
    registry, port = CollectorRegistry(), free_port()
    hist = Histogram(DURATION, "", LABELS, registry=registry, buckets=buckets)
    for t in targets:
        hist.labels("GET", f"/t{t}")  # series exist at 0 before the window: increase() is clean
    return port, hist, start_http_server(port, "127.0.0.1", registry=registry)[0]


def verdict(holds: bool, truth: bool) -> str:  # "X": differs from the truth
    return ("pass" if holds else "fail") + ("" if holds == truth else " X")


def measure(data: dict[int, list[float]], tmp: Path) -> tuple[SLOReport, dict[int, float], int]:
    """Observe every sample into both histograms; ask a real Prometheus over the window."""
    prom_port = free_port()
    jobs = {"exact": exporter(LATENCY_BUCKETS, [*data])}
    jobs["default"] = exporter(Histogram.DEFAULT_BUCKETS, [*data])
    scrape = "global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}\n"
    scrape += "scrape_configs:\n" + "".join(
        f"  - job_name: {job}\n    static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n"
        for job, (port, _, _) in jobs.items()
    )
    (tmp / "prometheus.yml").write_text(scrape)
    argv = ["/usr/bin/prometheus", f"--config.file={tmp}/prometheus.yml", "--log.level=error"]
    argv += [f"--storage.tsdb.path={tmp}/data", f"--web.listen-address=127.0.0.1:{prom_port}"]
    proc = subprocess.Popen(argv)  # its warnings and errors go to our terminal
    prom = Prometheus(f"http://127.0.0.1:{prom_port}", timeout=5)

    def value(promql: str) -> float | None:
        return next((s.value for s in prom.query(promql)), None)

    try:
        wait_until(lambda: value("count(up == 1)") == 2, 30, lambda: f"up: {value('up')}", 0.2)
        start = math.ceil(time.time())
        time.sleep(start + 1.2 - time.time())  # one scrape of zeros inside the window
        for (t, xs), (_, hist, _) in ((d, j) for d in data.items() for j in jobs.values()):
            for x in xs:
                hist.labels("GET", f"/t{t}").observe(x / 1000)
        count, total = f"sum({DURATION}_count)", 2 * N * len(data)
        wait_until(lambda: value(count) == total, 15, lambda: f"{count} = {value(count)}", 0.2)
        time.sleep(1.1)  # a last scrape after the traffic, inside the window
        end = math.ceil(time.time())
        objectives = [{"name": f"p95-{t}", "type": "latency", "percentile": 0.95,
                       "threshold": 0.2, "endpoint": f"/t{t}"} for t in data]  # fmt: skip
        doc = {"apiVersion": "synthmon/v1", "kind": "SLOSpec", "service": "bench",
               "selector": {"job": "exact"}, "objectives": objectives}  # fmt: skip
        report = evaluate(parse_spec(doc, "<bench>"), prom, (start, end))

        def hq(t: int) -> float:  # the dashboard P95 in ms, default buckets
            sel = selector(DURATION_BUCKET, {"job": "default", "endpoint": f"/t{t}"})
            return prom.query_one(increase_quantile(0.95, sel, end - start), at=end).value * 1000

        return report, {t: hq(t) for t in data}, end - start
    finally:
        prom.close()
        proc.terminate()  # the Prometheus we started, by its PID
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for _, _, server in jobs.values():
            server.shutdown()
            server.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", default="180,195,205,220", help="true P95s in ms")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    data = {t: sample(float(t), args.seed + t) for t in map(int, args.targets.split(","))}
    real = [sys.executable, "-c", REAL_LOCUST]  # locust itself, monkey-patching its own process
    out = subprocess.run(real, input=json.dumps([*data.values()]), capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"running locust.stats failed: {out.stderr.strip()[-500:]}")
    real_p95 = [int(line) for line in out.stdout.split()]
    with tempfile.TemporaryDirectory(prefix="verdict-accuracy-") as tmp:
        report, quantiles, seconds = measure(data, Path(tmp))
    rows: list[tuple[str, ...]] = [(*HEAD.split("|")[:-1], "synthmon's Locust P95", "verdict")]
    for (t, xs), row, locust_real in zip(data.items(), report.results, real_p95, strict=True):
        truth = sorted(xs)[RANK - 1] <= LIMIT_MS
        times = Counter(bucket_response_time(x) for x in xs)
        locust = locust_percentile(times, N, 0.95)
        if locust != locust_real:
            raise SystemExit(f"replicated Locust P95 {locust} != real Locust's {locust_real}")
        ours = client_stats_from([{"num_requests": N, "num_failures": 0, "response_times": times}])
        rows.append((
            f"{sorted(xs)[RANK - 1]:g} ms", "pass" if truth else "fail",
            f"{sum(x <= LIMIT_MS for x in xs) / N:.2%}",
            f"{row.measured or 0:.2%} ({row.details['fast']:g}/{row.details['requests']:g})",
            row.verdict + ("" if (row.verdict == "pass") == truth else " X"),
            f"{quantiles[t]:.1f} ms", verdict(quantiles[t] <= LIMIT_MS, truth),
            f"{locust} ms", verdict(locust <= LIMIT_MS, truth),
            f"{ours.p95_ms:g} ms", verdict((ours.p95_ms or 0) <= LIMIT_MS, truth),
        ))  # fmt: skip
    widths = [max(map(len, column)) for column in zip(*rows, strict=True)]
    print(f"N={N} per row, seed {args.seed}+target, window {seconds} s; X = wrong verdict")
    for r in rows:
        print(" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    print(f"Locust's own P95 (replicated) = real locust.stats in a subprocess: {real_p95}")
    print("synthmon's Locust P95: synthmon.slo.client's nearest rank over that histogram")


if __name__ == "__main__":
    main()
