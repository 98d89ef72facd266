"""Self-tests of checks/test_health.py: run the real checks (as a user would, in a pytest
subprocess against this stack as an external one) and break each condition in turn."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from synthmon.faults import Faults
from synthmon.stack import Stack

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.selftest


def run_health_checks(stack: Stack, run_dir: Path) -> subprocess.CompletedProcess[str]:
    assert stack.alertmanager_url
    argv = [
        sys.executable, "-m", "pytest", "checks/test_health.py", "-p", "no:cacheprovider",
        "--stack", "external", "--target-url", stack.app_url,
        "--prometheus-url", stack.prometheus_url, "--alertmanager-url", stack.alertmanager_url,
        "--run-dir", str(run_dir),
    ]  # fmt: skip
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=180)


def test_health_checks_pass_on_a_healthy_stack(stack: Stack, tmp_path: Path) -> None:
    result = run_health_checks(stack, tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "failed" not in result.stdout.splitlines()[-1]


BREAKS: dict[str, tuple[Callable[[Faults], AbstractContextManager[object]], str]] = {
    "postgres stopped": (
        lambda f: f.stopped("postgres"),
        "postgres: /health says checks.database='unhealthy'",
    ),
    "redis stopped": (lambda f: f.stopped("redis"), "redis: /health says checks.redis='unhealthy'"),
    "fake GitHub stopped": (
        lambda f: f.stopped("github"),
        "github: /health says checks.github_api='unhealthy'",
    ),
    "Prometheus killed": (lambda f: f.killed("prometheus"), "Prometheus: GET http://127.0.0.1:"),
}


@pytest.mark.parametrize("broken", list(BREAKS))
def test_health_check_fails_naming_what_broke(
    broken: str, stack: Stack, faults: Faults, tmp_path: Path
) -> None:
    cause, message = BREAKS[broken]
    with cause(faults):
        result = run_health_checks(stack, tmp_path)
    assert result.returncode == 1, f"expected the health checks to fail:\n{result.stdout[-3000:]}"
    assert message in result.stdout, f"{message!r} not in:\n{result.stdout[-3000:]}"
