"""Results to a Pushgateway, and the nightly synthetic mode end to end.

The self-test runs the real suite (``pytest checks`` plus an SLO gate over a look-back window)
in a subprocess with ``--stack external`` pointed at this session's stack: nothing destructive
may run (each such check is skipped with the reason), and the stack's real Pushgateway, then
Prometheus (scraping it with honor_labels), must hold what the run pushed. A failed run pushed
there must fire SyntheticRunFailed.
"""

from __future__ import annotations

import re
import secrets
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from prometheus_client import generate_latest

from synthmon import pushgateway
from synthmon.external import DESTRUCTIVE_SKIP
from synthmon.prom import Prometheus, wait_until
from synthmon.pushgateway import CheckResult, PushError, RunRecorder, RunSummary
from synthmon.slo.regression import ReportRow
from synthmon.stack import Stack

ROOT = Path(__file__).resolve().parents[1]
ROW = ReportRow("p95-latency", "latency", "pass", 0.99, 0.2, 0.012, "95")


def summary(
    outcomes: dict[str, str], slo: tuple[ReportRow, ...] = (), status: int = 0
) -> RunSummary:
    checks = {name: CheckResult(outcome, 0.5) for name, outcome in outcomes.items()}  # type: ignore[arg-type]
    return RunSummary(checks, slo, status, started=1000.0, finished=1060.0)


def exposition(run: RunSummary) -> str:
    return generate_latest(pushgateway.build_registry(run)).decode()


# -- unit: what is recorded and pushed ----------------------------------------------------------


def test_recorder_takes_the_worst_phase_and_the_call_time() -> None:
    recorder = RunRecorder()
    for check, when, outcome in [
        ("a", "setup", "passed"), ("a", "call", "passed"), ("a", "teardown", "passed"),
        ("b", "setup", "passed"), ("b", "call", "passed"), ("b", "teardown", "failed"),
        ("c", "setup", "skipped"), ("c", "teardown", "passed"),
        ("d", "setup", "failed"), ("d", "teardown", "passed"),
    ]:  # fmt: skip
        recorder.record(check, when, outcome, 2.0 if when == "call" else 9.0)
    got = {name: (r.outcome, r.duration_s) for name, r in recorder.checks.items()}
    assert got == {
        "a": ("passed", 2.0), "b": ("failed", 2.0), "c": ("skipped", 0.0), "d": ("failed", 0.0)
    }  # fmt: skip
    assert recorder.counts() == {"passed": 1, "failed": 2, "skipped": 1}


def test_metrics_of_a_passing_run() -> None:
    text = exposition(summary({"t::ok": "passed", "t::skip": "skipped"}, (ROW,)))
    assert 'synthmon_check_success{check="t::ok"} 1.0' in text
    assert 'synthmon_check_duration_seconds{check="t::ok"} 0.5' in text
    assert "t::skip" not in text.split("synthmon_run_checks")[0], "a skip is neither 1 nor 0"
    assert 'synthmon_run_checks{outcome="skipped"} 1.0' in text
    assert 'synthmon_slo_measured_value{objective="p95-latency",type="latency"} 0.99' in text
    assert 'synthmon_slo_threshold{objective="p95-latency",type="latency"} 0.2' in text
    assert 'synthmon_slo_verdict{objective="p95-latency",verdict="pass"} 1.0' in text
    assert 'synthmon_slo_verdict{objective="p95-latency",verdict="error"} 0.0' in text
    assert "synthmon_run_success 1.0" in text
    assert "synthmon_last_run_timestamp_seconds 1060.0" in text
    assert "synthmon_run_duration_seconds 60.0" in text


@pytest.mark.parametrize(
    ("run", "why"),
    [
        (summary({"t::a": "passed", "t::b": "failed"}, status=1), "a check failed"),
        (summary({"t::a": "skipped"}), "nothing passed: no data is not success"),
        (summary({}), "no check ran"),
        (summary({"t::a": "passed"}, status=2), "interrupted"),
        (summary({"t::a": "passed"}, (ReportRow("e", "error_rate", "error", None, 0.01, None),)),
         "an SLO could not be evaluated"),
    ],
)  # fmt: skip
def test_run_success_is_zero_unless_it_really_passed(run: RunSummary, why: str) -> None:
    assert "synthmon_run_success 0.0" in exposition(run), why
    if run.slo:
        assert "synthmon_slo_measured_value{" not in exposition(run), "no data is not zero"


class _Refusing(BaseHTTPRequestHandler):
    def do_PUT(self) -> None:
        body = b"pushed metrics are invalid or inconsistent with existing metrics"
        self.send_response(400)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def refusing_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://pusher:pw-5e1f9a@127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_refused_push_is_one_line_with_the_gateways_reason(refusing_url: str) -> None:
    registry = pushgateway.build_registry(summary({"t::a": "passed"}))
    with pytest.raises(PushError) as caught:
        pushgateway.push(refusing_url, registry, "x")
    text = str(caught.value)
    assert "HTTP 400: pushed metrics are invalid" in text and "\n" not in text
    assert "pw-5e1f9a" not in text


# -- live: the nightly synthetic mode against this session's stack -------------------------------

LOOKBACK_SPEC = """\
apiVersion: synthmon/v1
kind: SLOSpec
service: manager-app
selector: {job: app}
objectives:
  - {name: error-rate, type: error_rate, threshold: 0.01, min_requests: 1}
  - {name: cpu-average, type: cpu, threshold: 0.9}
  - {name: memory-peak, type: memory, threshold: 0.9}
"""
LOOKBACK_TEST = """\
import pytest

pytestmark = pytest.mark.slo


def test_slo_over_the_lookback_window(slo_report, synthmon_settings):
    assert abs(slo_report.end - slo_report.start - synthmon_settings.slo_lookback) < 0.01
    assert slo_report.exit_code == 0, slo_report.render_table()
"""


def run_external(stack: Stack, tmp_path: Path, instance: str, *args: str) -> str:
    assert stack.alertmanager_url and stack.pushgateway_url
    (tmp_path / "spec.yaml").write_text(LOOKBACK_SPEC)
    (tmp_path / "test_lookback.py").write_text(LOOKBACK_TEST)
    argv = [
        sys.executable, "-m", "pytest", *args, "-p", "no:cacheprovider", "-rs",
        "--stack", "external", "--target-url", stack.app_url,
        "--prometheus-url", stack.prometheus_url, "--alertmanager-url", stack.alertmanager_url,
        "--pushgateway-url", stack.pushgateway_url, "--push-instance", instance,
        "--slo-spec", str(tmp_path / "spec.yaml"), "--slo-lookback", "5m",
        "--run-dir", str(tmp_path / "runs"), "--junitxml", str(tmp_path / "junit.xml"),
    ]  # fmt: skip
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    return done.stdout


CHECKS = ("checks", "examples/manager-app/checks")  # the suite and the example's own checks


def destructive_checks() -> set[str]:
    argv = [sys.executable, "-m", "pytest", *CHECKS, "-m", "destructive", "--collect-only",
            "-q", "-p", "no:cacheprovider"]  # fmt: skip
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=60)
    return {line for line in done.stdout.splitlines() if "::" in line}


def test_external_run_skips_destructive_checks_and_pushes_its_results(
    stack: Stack, prom: Prometheus, tmp_path: Path
) -> None:
    assert stack.pushgateway_url
    instance = f"selftest-{secrets.token_hex(4)}"
    httpx.get(f"{stack.app_url}/health", timeout=5)  # traffic for the look-back SLO
    time.sleep(2 * stack.scrape_interval_s)
    started = time.time()
    out = run_external(stack, tmp_path, instance, *CHECKS, str(tmp_path / "test_lookback.py"))
    try:
        # nothing destructive ran: every such check is in the JUnit XML as skipped, with why
        destructive = destructive_checks()
        assert destructive, "no check is marked destructive: the test would prove nothing"
        cases = {
            f"{c.get('classname', '').replace('.', '/')}.py::{c.get('name')}": c
            for c in ET.parse(tmp_path / "junit.xml").getroot().iter("testcase")
        }
        for nodeid in destructive:
            case = cases[nodeid]
            skipped = case.find("skipped")
            assert skipped is not None, f"{nodeid} was not skipped on an external stack"
            assert DESTRUCTIVE_SKIP in (skipped.get("message") or ""), ET.tostring(case)
        assert f"SKIPPED [{len(destructive)}]" in out or DESTRUCTIVE_SKIP in out, out[-3000:]
        assert re.search(rf"synthmon: pushed \d+ checks .*instance={instance}\)", out), out

        # the Pushgateway holds the run ...
        held = pushgateway.pushed_metrics(stack.pushgateway_url, instance)
        success = {
            m["labels"]["check"]: m["value"] for m in held["synthmon_check_success"]["metrics"]
        }
        assert success and set(success.values()) == {"1"}, success
        assert not set(success) & destructive, "a skipped check has no success sample"
        assert any("test_dashboards.py" in name for name in success)
        assert held["synthmon_run_success"]["metrics"][0]["value"] == "1"
        stamp = float(held["synthmon_last_run_timestamp_seconds"]["metrics"][0]["value"])
        assert started < stamp <= time.time()
        verdicts = {
            (m["labels"]["objective"], m["labels"]["verdict"]): m["value"]
            for m in held["synthmon_slo_verdict"]["metrics"]
        }
        assert verdicts[("error-rate", "pass")] == verdicts[("memory-peak", "pass")] == "1"

        # ... and Prometheus scraped it under the pushed labels (honor_labels)
        query = f'synthmon_run_success{{job="synthmon", instance="{instance}"}}'
        wait_until(
            lambda: [s.value for s in prom.query(query)] == [1.0],
            deadline_s=10 * stack.scrape_interval_s,
            describe_fn=lambda: f"{query} is {prom.query(query)}",
        )
    finally:
        pushgateway.delete(stack.pushgateway_url, instance)


def test_a_failed_run_fires_synthetic_run_failed(stack: Stack, prom: Prometheus) -> None:
    assert stack.pushgateway_url
    instance = f"selftest-failing-{secrets.token_hex(4)}"
    failed = summary({"checks/test_health.py::test_app": "failed"}, status=1)
    pushgateway.push(stack.pushgateway_url, pushgateway.build_registry(failed), instance)

    def firing() -> list[str]:
        return [
            a.state
            for a in prom.alerts()
            if a.name == "SyntheticRunFailed" and a.labels.get("instance") == instance
        ]

    try:
        wait_until(
            lambda: firing() == ["firing"],
            deadline_s=10 * stack.scrape_interval_s,
            describe_fn=lambda: f"SyntheticRunFailed for {instance}: {firing() or 'inactive'}",
        )
        alert = next(a for a in prom.alerts() if a.labels.get("instance") == instance)
        assert (alert.labels["severity"], alert.labels["priority"]) == ("warning", "P2")
        assert alert.annotations["summary"] == f"Synthetic run against {instance} failed"
    finally:
        pushgateway.delete(stack.pushgateway_url, instance)
    wait_until(
        lambda: not firing(),
        deadline_s=10 * stack.scrape_interval_s,
        describe_fn=lambda: f"SyntheticRunFailed for {instance} still {firing()}",
    )
