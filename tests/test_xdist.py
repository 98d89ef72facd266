"""The suite under pytest-xdist: each worker gets its own stack, stack-mutating checks stay on
one worker, and the run passes (a plugin that only works with -n 0 would fail here)."""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.selftest


def test_health_and_recovery_checks_pass_with_two_workers() -> None:
    with tempfile.TemporaryDirectory(prefix="synthmon-xdist-") as base:
        Path(base).chmod(0o755)  # PostgreSQL (another user) traverses the run directory
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-n", "2", "-p", "no:cacheprovider",
             "checks/test_health.py", "examples/manager-app/checks/test_recovery.py",
             "--run-dir", base],
            cwd=ROOT, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert result.returncode == 0, result.stdout[-3000:]
        summary = result.stdout.strip().splitlines()[-1]
        assert re.search(r"\b7 passed\b", summary), summary
        runs = sorted(p.name for p in Path(base).glob("run-*"))
        assert len(runs) == 2, f"expected one stack per worker, got run directories {runs}"
        assert not list(Path(base).glob("*/pids.json")), "a worker's stack was not torn down"
