"""The second example runs on the processes backend: linkcheck's health checks and its
LinkcheckDown scenario (a strict xfail until the email sink can attribute
the team's own templates, issue 13: a pass fails this test too), in bounded time."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BOUND_S = 90.0


def test_linkcheck_health_and_one_alert_scenario_run_on_processes(tmp_path: Path) -> None:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "checks/test_health.py", "checks/test_alerts.py",
         "-k", "test_health or LinkcheckDown or every_alert_has",
         "--project", "examples/linkcheck/synthmon.yaml", "--stack", "processes",
         "--run-dir", str(tmp_path / "runs"), "-p", "no:cacheprovider", "-q", "-rA"],
        cwd=ROOT, capture_output=True, text=True, timeout=BOUND_S, check=False,
    )  # fmt: skip
    took = time.monotonic() - started
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    assert "XFAIL" in out and "LinkcheckDown" in out, out[-4000:]
    assert "PASSED checks/test_health.py::test_every_scrape_target_is_up" in out, out[-4000:]
    assert "not scraped in the test stack: redis" in out, out[-4000:]
    assert took < BOUND_S
