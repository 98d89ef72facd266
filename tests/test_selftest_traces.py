"""Self-tests of the ``traces`` checks' logic (synthmon.traces.pipeline) against the real
Jaeger v2 fed by the real OpenTelemetry SDK: each passes on a working pipeline and fails, with
what was searched and found, when its condition is broken (no trace, a span missing, the
collector down)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from synthmon.errors import ConfigError
from synthmon.traces.expect import trace_checks_of
from synthmon.traces.jaeger import JaegerClient
from synthmon.traces.pipeline import (
    COLLECTOR,
    Pipeline,
    TraceCheckFailed,
    collector_problem,
    trace_deadline_s,
    traced_request,
)
from tests._jaeger import BATCH_TIMEOUT_S, Jaeger, running_jaeger, traced_target

pytestmark = pytest.mark.selftest

ROOT = Path(__file__).resolve().parents[1]

CHECKS = trace_checks_of(
    [
        {
            "request": "GET /api/tasks/1",
            "spans": [
                {"kind": "server"},
                {"attributes": {"db.system": "postgresql"}},
                {"attributes": {"db.system": "redis"}},
                {"kind": "client", "attributes": {"http.request.method": "GET"}},
            ],
        }
    ]
)
ENV = {"OTEL_BSP_SCHEDULE_DELAY": "200"}


@pytest.fixture
def jaeger(tmp_path: Path) -> Iterator[Jaeger]:
    with running_jaeger(tmp_path) as running:
        yield running


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=3) as client:
        yield client


def pipeline(jaeger: Jaeger, http: httpx.Client, service: str = "demo-app") -> Pipeline:
    return Pipeline(
        JaegerClient(jaeger.query_url, http),
        service,
        jaeger.health_url,
        trace_deadline_s(ENV, BATCH_TIMEOUT_S),
        "test deadline",
    )


def test_the_deadline_is_the_export_settings_plus_a_margin() -> None:
    assert trace_deadline_s({"OTEL_BSP_SCHEDULE_DELAY": "200"}, 0.1) == pytest.approx(5.3)
    assert trace_deadline_s({}, 0.0) == pytest.approx(10.0)  # the SDK's default 5 s
    with pytest.raises(ConfigError, match="OTEL_BSP_SCHEDULE_DELAY: expected milliseconds"):
        trace_deadline_s({"OTEL_BSP_SCHEDULE_DELAY": "soon"}, 0.0)


def test_a_working_pipeline_passes(jaeger: Jaeger, http: httpx.Client) -> None:
    assert collector_problem(http, jaeger.health_url) is None
    with traced_target(jaeger.otlp_url) as target:
        trace = traced_request(http, target.url, CHECKS[0], pipeline(jaeger, http))
    assert {s.kind for s in trace.spans} == {"server", "client"} and len(trace.spans) == 4


def test_no_trace_fails_saying_what_was_searched_and_found(
    jaeger: Jaeger, http: httpx.Client
) -> None:
    # spans made, never exported
    with traced_target(None) as target, pytest.raises(TraceCheckFailed) as failed:
        traced_request(http, target.url, CHECKS[0], pipeline(jaeger, http))
    message = str(failed.value)
    assert message.startswith("GET /api/tasks/1 (HTTP 200) -> no trace with {kind=server}")
    assert f"in Jaeger {jaeger.query_url}/api/v3 within 5.3 s (test deadline)" in message
    assert (
        "then service 'demo-app', any operation, started " in message
        and "last seen: no trace " in message
    )
    assert "found: 0 trace(s) of the service in that window" in message
    assert f"; {COLLECTOR} {jaeger.health_url} healthy" in message


def test_a_missing_span_is_named_with_the_spans_found(jaeger: Jaeger, http: httpx.Client) -> None:
    with traced_target(jaeger.otlp_url) as target:
        target.children.discard("redis")
        with pytest.raises(TraceCheckFailed) as failed:
            traced_request(http, target.url, CHECKS[0], pipeline(jaeger, http))
    message = str(failed.value)
    assert "missing: {db.system=redis}; found: 1 trace(s) of the service" in message
    assert ": 3 spans: server 'GET /api/tasks/1' [demo-app] (http.route=/api/tasks/1)" in message
    assert "client 'SELECT' [demo-app] (db.system=postgresql)" in message


def test_a_stopped_collector_fails_both_checks_naming_it(
    jaeger: Jaeger, http: httpx.Client
) -> None:
    with traced_target(jaeger.otlp_url) as target:
        jaeger.stop()
        problem = collector_problem(http, jaeger.health_url)
        assert problem is not None
        assert problem.startswith(f"{COLLECTOR} {jaeger.health_url.rstrip('/')}: GET")
        assert "unreachable: Connection refused" in problem
        with pytest.raises(TraceCheckFailed) as failed:
            traced_request(http, target.url, CHECKS[0], pipeline(jaeger, http))
    message = str(failed.value)
    assert f"last seen: Jaeger {jaeger.query_url}: GET /api/v3/traces/" in message
    named = f"; {COLLECTOR} {jaeger.health_url.rstrip('/')}: GET /: unreachable: Connection refused"
    assert message.endswith(named), message
    assert f"found: no answer (Jaeger {jaeger.query_url}: GET /api/v3/traces?" in message


BAD = "trace_checks[0]."
BAD_CHECKS = [
    ({"request": "GET /x"}, "telemetry.trace_checks: expected a list"),
    ([{"request": "FETCH /x", "spans": [{}]}], f'{BAD}request: Value error, expected "METHOD'),
    ([{"request": "GET /x", "spans": []}], f"{BAD}spans: List should have at least 1"),
    ([{"request": "GET /x", "spans": [{"kind": "sever"}]}], f"{BAD}spans.0.kind: String should"),
    ([{"request": "GET /x", "spans": [{"attr": {}}]}], f"{BAD}spans.0.attr: Extra inputs"),
]


@pytest.mark.parametrize(("raw", "message"), BAD_CHECKS)
def test_bad_trace_checks_are_one_config_error_line(raw: object, message: str) -> None:
    with pytest.raises(ConfigError) as failed:
        trace_checks_of(raw)
    assert message in str(failed.value) and "\n" not in str(failed.value)


def run_collector_check(otel_url: str, run_dir: Path) -> subprocess.CompletedProcess[str]:
    """checks/test_traces.py's collector health check as a user runs it (an external stack;
    the target and Prometheus are not asked by it)."""
    argv = [
        sys.executable, "-m", "pytest", "checks/test_traces.py", "-p", "no:cacheprovider",
        "-k", "collector", "--stack", "external", "--target-url", "http://127.0.0.1:9",
        "--prometheus-url", "http://127.0.0.1:9", "--otel-url", otel_url.rstrip("/"),
        "--project", "examples/manager-app/synthmon.yaml", "--run-dir", str(run_dir),
    ]  # fmt: skip
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_the_collector_check_passes_then_fails_naming_the_stopped_collector(
    jaeger: Jaeger, tmp_path: Path
) -> None:
    healthy = run_collector_check(jaeger.health_url, tmp_path)
    assert healthy.returncode == 0, healthy.stdout[-3000:]
    assert "1 passed" in healthy.stdout.splitlines()[-1]
    jaeger.stop()
    broken = run_collector_check(jaeger.health_url, tmp_path)
    assert broken.returncode == 1, broken.stdout[-3000:]
    assert "FAILED checks/test_traces.py::test_collector_is_healthy" in broken.stdout
    named = f"{COLLECTOR} {jaeger.health_url.rstrip('/')}: GET /: unreachable: Connection refused"
    assert named in broken.stdout, broken.stdout[-3000:]
