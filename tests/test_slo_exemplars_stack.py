"""The acceptance of exemplars in the SLO gate on the reference app's real stack: latency forced
onto the PostgreSQL link (the fault proxy, 300 ms) makes the gate's P95 fail, and the gate
lists exemplar trace IDs (from the app's OpenMetrics histogram, kept by Prometheus's exemplar
storage) that exist in Jaeger, each with the PostgreSQL span as the slowest by self time."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from synthmon.faults import Faults
from synthmon.project import LinkFault
from synthmon.prom import Prometheus
from synthmon.slo import evaluate
from synthmon.slo.exemplars import with_exemplars
from synthmon.slo.spec import parse_spec
from synthmon.stack import Stack
from synthmon.traces.jaeger import JaegerClient

pytestmark = pytest.mark.selftest

ROOT = Path(__file__).resolve().parents[1]

SPEC = {
    "apiVersion": "synthmon/v1", "kind": "SLOSpec", "service": "manager-app",
    "selector": {"job": "app"},
    "objectives": [{"name": "p95-task", "type": "latency", "percentile": 0.95,
                    "threshold": 0.2, "endpoint": "/api/tasks/{task_id}"}],
}  # fmt: skip


def test_a_forced_latency_violation_lists_exemplar_trace_ids_that_exist_in_jaeger(
    stack: Stack, faults: Faults, prom: Prometheus
) -> None:
    assert stack.jaeger_url, "the reference stack has no Jaeger"
    spec = parse_spec(SPEC, "<test spec>")
    slow = LinkFault(to="postgres", toxic="latency", attributes={"latency": 300, "jitter": 0})
    with httpx.Client(timeout=10) as http:
        http.get(f"{stack.app_url}/api/tasks/1")  # the endpoint's series exist before
        time.sleep(2.5 * stack.scrape_interval_s)
        start = time.time()
        time.sleep(1.2 * stack.scrape_interval_s)  # a scrape inside the window first
        with faults.link(slow):
            until = time.time() + 8  # several scrapes: one exemplar per bucket each
            while time.time() < until:
                http.get(f"{stack.app_url}/api/tasks/1")
        time.sleep(2.5 * stack.scrape_interval_s + stack.telemetry_delay_s)
        end = time.time() - 0.5
        report = evaluate(spec, prom, (start, end))
        report = with_exemplars(report, spec, prom, JaegerClient(stack.jaeger_url, http))
    (row,) = report.results
    assert row.verdict == "fail", row.reason
    (found,) = report.exemplars
    text = found.render()
    assert found.note == "" and found.exemplars, text
    for exemplar in found.exemplars:
        assert len(exemplar.trace_id) == 32 and exemplar.in_jaeger is True, text
        assert exemplar.value_s > 0.2 and exemplar.series.get("endpoint") == "/api/tasks/{task_id}"
        assert exemplar.slowest_span is not None and "SELECT" in exemplar.slowest_span, text
        assert exemplar.slowest_self_ms is not None and exemplar.slowest_self_ms >= 250, text
    assert f"trace {found.exemplars[0].trace_id}: slowest span " in report.render_table()


def test_the_gate_prints_and_saves_the_exemplars_of_a_failing_p95(
    stack: Stack, faults: Faults, tmp_path: Path
) -> None:
    """slo/test_slo_gate.py as a user runs it (an external stack, a 20 s look-back) while the
    PostgreSQL link is slow: the failing objective's message lists its exemplars, and
    slo-report.json holds them."""
    assert stack.jaeger_url
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(SPEC))
    slow = LinkFault(to="postgres", toxic="latency", attributes={"latency": 300, "jitter": 0})
    with httpx.Client(timeout=10) as http, faults.link(slow):
        until = time.time() + 8
        while time.time() < until:
            http.get(f"{stack.app_url}/api/tasks/1")
        time.sleep(2.5 * stack.scrape_interval_s + stack.telemetry_delay_s)
        argv = [
            sys.executable, "-m", "pytest", "slo/test_slo_gate.py", "-p", "no:cacheprovider",
            "--stack", "external", "--target-url", stack.app_url,
            "--prometheus-url", stack.prometheus_url, "--jaeger-url", stack.jaeger_url,
            "--slo-spec", str(spec), "--slo-lookback", "20s", "--run-dir", str(tmp_path / "run"),
        ]  # fmt: skip
        done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300)
    out = done.stdout
    assert done.returncode == 1, out[-3000:]
    assert "SLO p95-task fail: " in out, out[-3000:]
    head = "exemplars of p95-task above 200 ms (http_request_duration_seconds_bucket{"
    assert head in out, out[-3000:]
    assert ": slowest span SELECT" in out, out[-3000:]
    (report,) = (tmp_path / "run").glob("run-*/slo-report.json")
    (saved,) = json.loads(report.read_text())["exemplars"]
    assert saved["objective"] == "p95-task" and saved["exemplars"], saved
    assert all(e["in_jaeger"] for e in saved["exemplars"]), saved
