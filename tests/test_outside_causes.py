"""Acceptance (issue 14): with the app's chaos API switched off, every runbook alert of the
reference example but HighCPUUsage and HighMemoryUsage fires, reaches its receivers and
resolves from a cause outside the app (a process stopped, a link slowed or reset by the fault
proxy, the upstream misbehaving, traffic, a pushed run), plus DatabaseConnectionFailure from a
second cause: its PostgreSQL link resetting connections.

One stack, one pytest run: checks/test_alerts.py and one extra check file against a copy of the
example whose app has no APP_CHAOS_TOKEN (examples/ is never written)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from synthmon.project import HttpFault
from synthmon.projectfile import load_project
from tests._programs import require

pytestmark = pytest.mark.selftest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "manager-app"
CHAOS_ONLY = {"HighCPUUsage", "HighMemoryUsage"}  # no outside cause: see synthmon.yaml
SECOND_CAUSE = "test_database_connection_failure_from_reset_connections"

EXTRA = '''
"""Run with checks/test_alerts.py on the same stack (tests/test_outside_causes.py)."""
import httpx

from synthmon.project import LinkFault


def test_the_chaos_api_is_off(stack):
    answer = httpx.put(f"{stack.app_url}/api/chaos", json={"cpu_burn": 1.0}, timeout=5)
    assert answer.status_code == 404, f"chaos API without a token: HTTP {answer.status_code}"


def test_database_connection_failure_from_reset_connections(alert_scenario, faults):
    reset = LinkFault("postgres", "reset_peer", "app", attributes={"timeout": 0})
    alert_scenario.run(
        "DatabaseConnectionFailure", faults.applied([reset]),
        "every connection on the app's PostgreSQL link reset by the peer",
    )
'''


@pytest.fixture
def outside_copy() -> Iterator[Path]:
    """The example without the app's chaos token and without the chaos-only scenarios, in a
    directory PostgreSQL (another user) can traverse: pytest's tmp_path is 0700."""
    base = Path(tempfile.mkdtemp(prefix="synthmon-outside-"))
    base.chmod(0o755)
    try:
        copy = base / "manager-app"
        shutil.copytree(EXAMPLE, copy, ignore=shutil.ignore_patterns("__pycache__"))
        file = copy / "synthmon.yaml"
        doc = yaml.safe_load(file.read_text())
        del doc["services"]["app"]["env"]["APP_CHAOS_TOKEN"]
        doc.get("compose", {}).get("env", {}).pop("APP_CHAOS_TOKEN", None)
        for alert in CHAOS_ONLY:
            del doc["scenarios"][alert]
            doc["no_scenario"][alert] = "chaos API only (off in this copy)"
        file.write_text(yaml.safe_dump(doc, sort_keys=False))
        (copy / "test_outside_extra.py").write_text(EXTRA)
        yield copy
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_every_alert_fires_from_a_cause_outside_the_app(outside_copy: Path) -> None:
    for program in ("redis-server", "prometheus", "prometheus-alertmanager"):
        require(program)
    project = load_project(outside_copy)
    assert "APP_CHAOS_TOKEN" not in project.service("app").env
    expected = {s.alert for s in project.scenarios}
    assert expected == {s.alert for s in load_project(EXAMPLE).scenarios} - CHAOS_ONLY
    inside = [s.alert for s in project.scenarios if any(isinstance(f, HttpFault) for f in s.faults)]
    assert not inside, f"scenarios that still use the app's own fault endpoint: {inside}"
    junit = outside_copy.parent / "junit.xml"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNTHMON_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "checks/test_alerts.py",
         str(outside_copy / "test_outside_extra.py"),
         "-k", f"test_alert_fires or test_the_chaos_api_is_off or {SECOND_CAUSE}",
         "-p", "no:cacheprovider", "--stack", "processes",
         "--project", str(outside_copy), "--run-dir", str(outside_copy.parent / "runs"),
         "--rootdir", str(ROOT), "-c", str(ROOT / "pytest.ini"), f"--junitxml={junit}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1500, check=False,
    )  # fmt: skip
    tail = "\n".join((done.stdout + done.stderr).splitlines()[-40:])
    outcomes = _outcomes(junit) if junit.exists() else {}
    want = {  # one test a scenario, named by its key (HighResponseTime has two causes)
        f"test_alert_fires_reaches_its_receivers_and_resolves[{s.id}]" for s in project.scenarios
    }
    want |= {"test_the_chaos_api_is_off", SECOND_CAUSE}
    not_passed = {
        name: outcomes.get(name, "not run") for name in want if outcomes.get(name) != "passed"
    }
    assert not not_passed, f"not passed: {not_passed}\n{tail}"
    assert done.returncode == 0, tail


def _outcomes(junit: Path) -> dict[str, str]:
    """Test name → passed, failed, error or skipped, from a JUnit XML file."""
    found = {}
    for case in ET.parse(junit).iter("testcase"):
        kinds = {child.tag for child in case} & {"failure", "error", "skipped"}
        found[case.attrib["name"]] = {"failure": "failed"}.get(
            min(kinds, default=""), min(kinds, default="passed")
        )
    return found
