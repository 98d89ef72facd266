"""The policy catches what the routing tree cannot: a copy of the reference example whose P1
route was edited to drop PagerDuty still routes consistently (the tree's answer is what is
delivered), but its ApplicationDown scenario fails through the policy, naming what was
required and what was reached; ``synthmon routes diff`` reports the same edit without a stack."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_rename import ROOT, renamed_copy

pytestmark = pytest.mark.selftest
P1_ROUTE = "    - receiver: pagerduty-slack-p1\n      matchers: ['priority=\"P1\"']"


def drop_pagerduty_from_p1(path: Path, text: str) -> str:
    if path.name != "alertmanager.yml":
        return text
    assert P1_ROUTE in text, "the reference example's P1 route moved: update this self-test"
    return text.replace(P1_ROUTE, P1_ROUTE.replace("pagerduty-slack-p1", "slack-email-p2"))


def test_a_p1_route_without_pagerduty_fails_the_scenario_through_the_policy(
    traversable_tmp: Path,
) -> None:
    project = renamed_copy(traversable_tmp / "no-pager", [drop_pagerduty_from_p1])
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "checks/test_alerts.py", "-k", "ApplicationDown",
         "-p", "no:cacheprovider", "--project", str(project), "--stack", "processes",
         "--run-dir", str(traversable_tmp / "runs")],
        cwd=ROOT, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    out = done.stdout
    assert done.returncode == 1, out[-4000:]
    assert "ApplicationDown: policy violated" in out, out[-4000:]
    assert "must reach pagerduty" in out and "reached slack-email-p2" in out, out[-4000:]
    # the tree's own answer was delivered: it is the policy, not the routing check, that fails
    assert "ApplicationDown firing at slack-email-p2/slack[0]" in out, out[-4000:]


def test_routes_diff_reports_the_same_edit(traversable_tmp: Path) -> None:
    repo = traversable_tmp / "repo"
    shutil.copytree(
        ROOT / "examples/manager-app", repo, ignore=shutil.ignore_patterns("__pycache__")
    )
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "base"], check=True)
    am = repo / "monitoring/alertmanager/alertmanager.yml"
    am.write_text(drop_pagerduty_from_p1(am, am.read_text()))
    done = subprocess.run(
        [sys.executable, "-m", "synthmon.cli", "routes", "diff", "--base", "HEAD",
         "--project", str(repo / "synthmon.yaml")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "ApplicationDown" in done.stdout and "policy violated" in done.stdout, done.stdout
