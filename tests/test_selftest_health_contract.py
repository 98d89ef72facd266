"""Self-test of checks/test_health_contract.py: a copy of the reference example whose /health
always says healthy (its probes still run, its answer ignores them) must fail the check, naming
the dependency; the same copy unpatched passes it (the control). Each run starts the copy's
own stack in a pytest subprocess, as a user would with ``--project``."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "manager-app"
# one dependency bounds the time: a stack start, and the lying run's whole down deadline
DEPENDENCY = "postgres"

pytestmark = pytest.mark.selftest

# appended to the copy's app/health.py: GET /health and the prober still probe every
# dependency (the metrics stay true), but the answer always says healthy, HTTP 200
LIE = """

_probe_for_real = DependencyMonitor.check


async def _always_healthy(self: DependencyMonitor) -> dict[str, str]:
    await _probe_for_real(self)
    return dict.fromkeys(self._probes, HEALTHY)


DependencyMonitor.check = _always_healthy  # type: ignore[method-assign]


def overall(checks: dict[str, str]) -> tuple[str, int]:  # noqa: F811
    return "healthy", 200
"""


def copy_example(tmp_path: Path, lying: bool) -> Path:
    copy = tmp_path / "manager-app"
    shutil.copytree(EXAMPLE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    if lying:
        with (copy / "app" / "health.py").open("a") as health:
            health.write(LIE)
    return copy


def run_contract_check(project: Path) -> subprocess.CompletedProcess[str]:
    # the default run directory: postgres, run as its own user, cannot enter a private tmp_path
    argv = [
        sys.executable, "-m", "pytest", "checks/test_health_contract.py", "-p", "no:cacheprovider",
        "--project", str(project), "--stack", "processes", "-k", DEPENDENCY,
    ]  # fmt: skip
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_a_health_endpoint_that_always_says_healthy_fails_naming_the_dependency(
    tmp_path: Path,
) -> None:
    result = run_contract_check(copy_example(tmp_path, lying=True))
    out = result.stdout[-4000:]
    assert result.returncode == 1, f"expected the lying /health to fail the check:\n{out}"
    assert "1 failed" in result.stdout.splitlines()[-1], out
    for message in (
        f"{DEPENDENCY} stopped: timed out after",
        f"{DEPENDENCY}: /health still says checks.database='healthy' while {DEPENDENCY} is stopped",
        f"{DEPENDENCY}: /health answered HTTP 200 while {DEPENDENCY} is stopped, expected 503",
    ):
        assert message in result.stdout, f"{message!r} not in:\n{out}"


def test_the_same_copy_unpatched_passes(tmp_path: Path) -> None:
    result = run_contract_check(copy_example(tmp_path, lying=False))
    out = result.stdout[-4000:]
    assert result.returncode == 0, out
    assert "1 passed" in result.stdout.splitlines()[-1], out
