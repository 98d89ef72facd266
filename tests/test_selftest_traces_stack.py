"""Self-tests of checks/test_traces.py on the reference app's real stack (Jaeger v2 as the
collector, the app traced with the OpenTelemetry SDK): run the checks as a user would, in a
pytest subprocess against this stack as an external one; then stop the collector and see
every check fail naming it, with what was searched and found."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from synthmon.faults import Faults
from synthmon.stack import Stack
from synthmon.traces.pipeline import COLLECTOR

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.selftest


def run_trace_checks(stack: Stack, run_dir: Path) -> subprocess.CompletedProcess[str]:
    assert stack.jaeger_url and stack.otel_health_url, "the reference stack has no Jaeger"
    argv = [
        sys.executable, "-m", "pytest", "checks/test_traces.py", "-p", "no:cacheprovider",
        "--stack", "external", "--target-url", stack.app_url,
        "--prometheus-url", stack.prometheus_url, "--jaeger-url", stack.jaeger_url,
        "--otel-url", stack.otel_health_url.rstrip("/"), "--run-dir", str(run_dir),
    ]  # fmt: skip
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_trace_checks_pass_on_the_reference_stack_and_fail_naming_a_stopped_collector(
    stack: Stack, faults: Faults, tmp_path: Path
) -> None:
    healthy = run_trace_checks(stack, tmp_path)
    assert healthy.returncode == 0, healthy.stdout[-3000:]
    assert "4 passed" in healthy.stdout.splitlines()[-1], healthy.stdout[-3000:]
    with faults.stopped("jaeger"):
        broken = run_trace_checks(stack, tmp_path)
    out = broken.stdout
    assert broken.returncode == 1, f"expected the trace checks to fail:\n{out[-3000:]}"
    assert "4 failed" in out.splitlines()[-1], out[-3000:]
    health = stack.otel_health_url.rstrip("/") if stack.otel_health_url else ""
    named = f"{COLLECTOR} {health}: GET /: unreachable: Connection refused"
    assert out.count(named) >= 4, out[-3000:]  # the health check and each trace check
    for request in ("GET /api/tasks/1", "GET /api/tasks", "GET /api/repos/octocat/hello-world"):
        assert f"{request} (HTTP " in out and ") -> no trace with " in out, (request, out[-3000:])
    assert "then service 'manager-app', any operation, started " in out
    assert f"found: no answer (Jaeger {stack.jaeger_url}: GET /api/v3/traces?" in out
