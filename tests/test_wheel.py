"""The built wheel is the whole library: installed outside the checkout with only the reference
example's requirements, it runs the example's health checks (scripts/wheel-check.sh; the whole
suite is the script without arguments)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.selftest


def test_the_wheel_alone_runs_the_examples_health_checks() -> None:
    """Health (5, Grafana skipped) and traces (the collector's health and 3 trace checks)."""
    done = subprocess.run(
        [str(ROOT / "scripts" / "wheel-check.sh"), "checks/test_health.py",
         "checks/test_traces.py"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-3000:]
    assert "wheel-check: synthmon from " in out and "site-packages" in out, out[-3000:]
    assert "9 passed, 1 skipped" in out, out[-3000:]
