"""No page leaves the machine: the alert scenarios run once in a network namespace whose only
interface is loopback (no route out), so a destination the redirection missed cannot reach a
real on-call person from a CI run; Alertmanager's failed delivery then fails the scenario,
naming the receiver (the probe shows both halves on a receiver left pointing off the machine).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests._programs import require

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.selftest


def loopback_only(argv: list[str]) -> list[str]:
    """``argv`` in a new network namespace with only ``lo``, up (root: no user namespace)."""
    user = [] if os.geteuid() == 0 else ["--map-root-user"]
    up = 'ip link set lo up && exec "$@"'
    return [require("unshare"), *user, "--net", "--", "sh", "-c", up, "loopback-only", *argv]


def test_the_namespace_has_only_loopback() -> None:
    done = subprocess.run(
        loopback_only(["ip", "-o", "link", "show"]), capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    names = [line.split(":")[1].strip() for line in done.stdout.splitlines()]
    assert names == ["lo"], done.stdout


def test_a_receiver_left_off_the_machine_fails_naming_it(tmp_path: Path) -> None:
    alertmanager = require("prometheus-alertmanager")
    done = subprocess.run(
        loopback_only([sys.executable, "tests/_netns_leak_probe.py", alertmanager, str(tmp_path)]),
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "failed notifications: " in done.stdout, done.stdout
    assert "leaky-pager" in done.stdout and "network is unreachable" in done.stdout, done.stdout


def test_the_second_examples_alert_scenarios_pass_with_no_route_out(tmp_path: Path) -> None:
    done = subprocess.run(
        loopback_only([sys.executable, "-m", "pytest", "checks/test_alerts.py", "-p",
                       "no:cacheprovider", "--project", "examples/linkcheck/synthmon.yaml",
                       "--stack", "processes", "--run-dir", str(tmp_path)]),
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:]
    assert re.search(r"by marker: alert \d+ passed;", done.stdout), done.stdout[-4000:]
