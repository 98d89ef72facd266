"""Self-tests of checks/test_logs.py: the real check (in a pytest subprocess, against this stack
as an external one) reads the stack's VictoriaLogs, where the app's OTLP logs arrive through the
collector; an ERROR record sent down the same pipeline makes it fail quoting the line, and a log
store holding nothing of the app makes it fail saying so."""

from __future__ import annotations

import logging
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource

from synthmon.stack import Stack
from tests.test_selftest_logs import real_victorialogs

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [
    pytest.mark.selftest,
    pytest.mark.filterwarnings("ignore:`LoggingHandler`:DeprecationWarning"),
]


def run_log_check(stack: Stack, run_dir: Path, logs_url: str) -> subprocess.CompletedProcess[str]:
    argv = [
        sys.executable, "-m", "pytest", "checks/test_logs.py", "-p", "no:cacheprovider",
        "--stack", "external", "--target-url", stack.app_url,
        "--prometheus-url", stack.prometheus_url, "--logs-url", logs_url,
        "--logs-lookback", "10m", "--run-dir", str(run_dir),
    ]  # fmt: skip
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=180)


def service_name(stack: Stack) -> str:
    assert stack.project is not None and stack.project.telemetry is not None
    return stack.project.telemetry.service_name


def test_the_log_check_passes_on_the_healthy_app(stack: Stack, tmp_path: Path) -> None:
    assert stack.logs_url, "the example's stack has a log store"
    result = run_log_check(stack, tmp_path, stack.logs_url)
    assert result.returncode == 0, result.stdout[-3000:]


def test_an_unexpected_error_through_the_pipeline_fails_quoting_it(
    stack: Stack, tmp_path: Path
) -> None:
    assert stack.logs_url and stack.otlp_url
    text = f"payment ledger out of balance {uuid.uuid4().hex[:8]}"
    provider = LoggerProvider(resource=Resource.create({"service.name": service_name(stack)}))
    exporter = OTLPLogExporter(endpoint=f"{stack.otlp_url}/v1/logs")  # the collector, as the app
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = logging.getLogger("selftest.ledger")
    logger.propagate = False
    logger.addHandler(LoggingHandler(logger_provider=provider))
    try:
        logger.error(text, extra={"path": "/api/tasks"})
    finally:
        provider.shutdown()
    result = run_log_check(stack, tmp_path, stack.logs_url)
    assert result.returncode == 1, f"expected the log check to fail:\n{result.stdout[-3000:]}"
    assert "1 unexpected ERROR/CRITICAL/FATAL or out-of-memory line for" in result.stdout
    assert f"ERROR {text} (path=/api/tasks)" in result.stdout
    assert "(the last 10m, --logs-lookback)" in result.stdout


def test_a_store_without_the_apps_lines_fails(stack: Stack, tmp_path: Path) -> None:
    with real_victorialogs(tmp_path / "data") as empty:
        result = run_log_check(stack, tmp_path, empty)
    assert result.returncode == 1, result.stdout[-3000:]
    assert (
        f'VictoriaLogs {empty}: the log store holds no lines for service.name:"'
        f'{service_name(stack)}" in '
    ) in result.stdout
    assert "is the app shipping logs?" in result.stdout
