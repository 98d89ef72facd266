"""Capacity search against a server whose capacity is known (tests/_capacity_server.py:
4 slots x 40 ms = 100 req/s), scraped by a real Prometheus, driven by real Locust runs.

* the search brackets the knee within 10% and the bracket lies within ±10% of 100 req/s, the
  failing objective named, every step with its samples and margin;
* a starved generator (CPU burnt before every request) is reported generator-bound, "at
  least", never as the server's capacity, while the saturated server above was not.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest

from synthmon.load.capacity import CapacityResult, search_capacity
from synthmon.load.capacity_profile import CapacitySpec
from synthmon.load.profiles import LoadProfile
from synthmon.ports import free_ports
from synthmon.prom import Prometheus
from synthmon.slo.spec import SLOSpec, load_spec
from synthmon.waiting import NotYet, wait_until
from tests._programs import require

HERE = Path(__file__).resolve().parent
SLOTS, SERVICE_MS = 4, 40
CAPACITY = SLOTS * 1000 / SERVICE_MS  # 100 req/s
SPEC = """apiVersion: synthmon/v1
kind: SLOSpec
service: calibrated
selector: {job: calibrated}
objectives:
  - {name: p95-latency, type: latency, percentile: 0.95, threshold: 0.2}
  - {name: error-rate, type: error_rate, threshold: 0.05}
"""
SEARCH = CapacitySpec(
    start_rps=50,
    step_factor=1.6,
    step_s=4,
    settle_s=1,
    max_rps=400,
    max_duration_s=80,
    abort_error_rate=0.5,
)


@dataclass(frozen=True)
class Calibrated:
    url: str
    prom: Prometheus
    spec: SLOSpec
    tmp: Path


def _spawn(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Calibrated]:
    prometheus = require("prometheus")
    tmp = tmp_path_factory.mktemp("capacity")
    app_port, prom_port = free_ports(2)
    config = tmp / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 500ms, scrape_timeout: 500ms, evaluation_interval: 1s}\n"
        "scrape_configs:\n  - job_name: calibrated\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{app_port}']}}]\n"
    )
    server = [sys.executable, str(HERE / "_capacity_server.py"), str(app_port), str(SLOTS)]
    procs = [_spawn([*server, str(SERVICE_MS)], tmp / "server.log")]
    procs.append(
        _spawn(
            [prometheus, f"--config.file={config}", f"--storage.tsdb.path={tmp / 'data'}",
             f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=warn"],
            tmp / "prometheus.log",
        )
    )  # fmt: skip
    url = f"http://127.0.0.1:{app_port}"
    prom = Prometheus(f"http://127.0.0.1:{prom_port}", timeout=5)
    try:
        wait_until(lambda: httpx.get(f"{url}/work").status_code == 200, timeout_s=20,
                   what="the calibrated server", retry_on=(httpx.HTTPError,))  # fmt: skip

        def scraped() -> bool | NotYet:
            up = prom.query('up{job="calibrated"} == 1')
            return True if up else NotYet("no successful scrape yet")

        wait_until(scraped, timeout_s=30, what="Prometheus scraping the calibrated server",
                   retry_on=(Exception,))  # fmt: skip
        spec_file = tmp / "slo.yaml"
        spec_file.write_text(SPEC)
        yield Calibrated(url, prom, load_spec(spec_file), tmp)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _search(c: Calibrated, name: str, spec: CapacitySpec, env: dict[str, str]) -> CapacityResult:
    profile = LoadProfile(name, 1, 1.0, 1.0, 1.0, capacity=spec)
    return search_capacity(
        c.url,
        profile,
        c.spec,
        c.prom,
        c.tmp / name,
        locustfile=HERE / "_capacity_locust.py",
        scrape_settle_s=1.2,
        extra_env=env,
    )


def _steps(result: CapacityResult) -> str:
    return "\n".join(
        f"  {s.index} {s.phase} {s.offered_rps:.1f} -> {s.achieved_rps:.1f} req/s "
        f"n={s.requests} {s.outcome} {s.failed_objective or ''} cpu={s.generator_demand}: "
        f"{s.reason}"
        for s in result.steps
    )


def test_search_finds_the_known_knee_within_10_percent(calibrated: Calibrated) -> None:
    result = _search(calibrated, "calibrated", SEARCH, {"SYNTHMON_TEST_HOG_MS": "0"})
    knee, shown = result.knee, f"{result.knee.text()}\n{_steps(result)}"
    assert not knee.at_least, f"expected a bracketed knee, got {shown}"
    assert knee.low is not None and knee.high is not None, shown
    assert knee.high <= knee.low * 1.1 + 1e-9, f"bracket wider than 10%: {shown}"
    middle = math.sqrt(knee.low * knee.high)
    assert abs(middle - CAPACITY) <= 0.1 * CAPACITY, (
        f"knee not within ±10% of the calibrated {CAPACITY:g} req/s: {shown}"
    )
    assert knee.low >= 0.9 * CAPACITY, f"the last passing step is not a capacity: {shown}"
    assert knee.failed_objective in ("p95-latency", "error-rate", "throughput"), shown
    assert not result.generator_bound, f"a saturated server is not generator-bound: {shown}"
    for step in result.steps:
        assert step.requests > 0 and step.margins, shown
        latency = next(m for m in step.margins if m.name == "p95-latency")
        assert latency.samples and latency.low is not None and latency.high is not None, shown
    doc = json.loads((calibrated.tmp / "calibrated" / "capacity.json").read_text())
    assert set(doc["knee"]) >= {"low", "high", "at_least", "failed_objective"}
    assert doc["generator_bound"] is False and len(doc["steps"]) == len(result.steps)


def test_starved_generator_is_generator_bound_never_the_capacity(calibrated: Calibrated) -> None:
    # 40 ms of CPU per request: one Locust process tops out near 25 req/s, far below 50
    starved = replace(SEARCH, start_rps=50, max_duration_s=30)
    result = _search(calibrated, "starved", starved, {"SYNTHMON_TEST_HOG_MS": "40"})
    shown = f"{result.knee.text()}\n{_steps(result)}"
    assert result.generator_bound, f"expected generator-bound: {shown}"
    assert result.knee.at_least and result.knee.high is None, shown
    assert result.steps[-1].outcome == "generator-bound", shown
    assert "generator" in result.knee.reason, shown
