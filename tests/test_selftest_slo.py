"""Self-tests of the SLO gate on a live stack: a real Locust run against app chaos, judged by
the real Prometheus. Each breaks one baseline and sees the gate fail for that reason."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
import yaml

from synthmon.faults import Faults
from synthmon.load import LoadProfile, run_load
from synthmon.prom import Prometheus
from synthmon.slo import SLOReport, load_spec
from synthmon.slo.gate import gate_after_load
from synthmon.stack import Stack
from tests._example_faults import chaos

pytestmark = [pytest.mark.selftest, pytest.mark.slo]

SPEC = Path(__file__).resolve().parents[1] / "examples/manager-app/slo/baseline.yaml"
# ~400 requests: enough that 5% injected errors can't pass by luck (P(<= 1%) ~ 1e-5)
PROFILE = LoadProfile(
    name="selftest", users=10, spawn_rate=10, ramp_s=1, steady_s=10, target_rps=40,
    constant_throughput=True,
)  # fmt: skip


def gate(stack: Stack, prom: Prometheus, cause: AbstractContextManager[object]) -> SLOReport:
    """A Locust run under ``cause``, judged by the gate as in slo/test_slo_gate.py."""
    with cause:
        out = stack.run_dir / "selftest-load" / str(time.time())
        assert stack.project is not None
        result = run_load(stack.app_url, PROFILE, out, locustfile=stack.project.locustfile)
        return gate_after_load(load_spec(SPEC), prom, result, 2 * stack.scrape_interval_s)


def verdicts(report: SLOReport) -> dict[str, str]:
    return {row.name: row.verdict for row in report.results}


def drop_app_job(text: str) -> str:
    config = yaml.safe_load(text)
    config["scrape_configs"] = [j for j in config["scrape_configs"] if j["job_name"] != "app"]
    return yaml.safe_dump(config, sort_keys=False)


CASES: dict[str, tuple[Callable[[Faults], AbstractContextManager[object]], dict[str, str], str]] = {
    "true P95 near 150 ms passes": (
        lambda f: chaos(f, latency_ms=150),
        {"p95-latency": "pass", "error-rate": "pass"},
        "",
    ),
    "true P95 near 300 ms fails on latency": (
        lambda f: chaos(f, latency_ms=300),
        {"p95-latency": "fail", "error-rate": "pass"},
        "<= 200 ms",
    ),
    "5% injected errors fail on error rate": (
        lambda f: chaos(f, error_rate=0.05),
        {"p95-latency": "pass", "error-rate": "fail"},
        "5xx of",
    ),
    "app not scraped fails with no data": (
        lambda f: f.reconfigured("prometheus", "prometheus.yml", drop_app_job),
        {"p95-latency": "error", "error-rate": "error", "cpu-average": "error"},
        "no data",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_gate_verdict(case: str, stack: Stack, prom: Prometheus, faults: Faults) -> None:
    cause, expected, reason = CASES[case]
    report = gate(stack, prom, cause(faults))
    table = report.render_table()
    got = {name: verdict for name, verdict in verdicts(report).items() if name in expected}
    assert got == expected, table
    assert reason in table, table
    assert report.exit_code == (
        0
        if all(v == "pass" for v in expected.values())
        else 2
        if "error" in expected.values()
        else 1
    ), table
