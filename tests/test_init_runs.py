"""Issue 14's acceptance, live: ``synthmon init --from`` on each example's docker-compose.yml,
then the suite's health checks on the compose backend with the file it wrote, unchanged. The
one failure is the target's health naming the SaaS its compose file defaults to; with the
stand-in init wrote uncommented (routes: the example's own file), they all pass.

Needs an engine (Podman here): skipped when none answers, unless SYNTHMON_REQUIRE_CONTAINERS=1
(``make test`` sets it), as tests/test_compose.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from synthmon.init_from import init_from
from synthmon.stack import engine
from synthmon.stack.compose import PROJECT_PREFIX
from synthmon.stack.compose_runner import remove_dead_projects
from tests.test_compose import found, leftovers
from tests.test_init_from import uncomment_stand_ins

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
CHECKS = ("checks/test_health.py", "checks/test_health_contract.py")
SCENARIOS_CHECK = "checks/test_alerts.py::test_every_alert_has_a_scenario"
HEALTH = "test_app_health_reports_every_dependency_healthy"
__all__ = ["found"]  # the engine fixture of tests/test_compose.py

pytestmark = [pytest.mark.selftest, pytest.mark.xdist_group("containers")]


@dataclass(frozen=True)
class Case:
    """One example: its routes file, what its health says of the unreachable SaaS, the alerts
    init lists without a scenario, and what the user fills in besides the stand-in."""

    example: str
    routes: str
    saas_said: tuple[str, ...]  # in the health answer the check attached
    alerts: tuple[str, ...]
    compose_lines: dict[str, str] = field(default_factory=dict)  # a copy's line → its fix
    health_from_example: dict[str, str] | None = None  # entry renames: example → generated
    known: dict[str, str] = field(default_factory=dict)  # check → text, a bug of another part
    first_too: tuple[str, ...] = ()  # checks that fail with the SaaS unreachable too


CASES = [
    Case(
        "manager-app",
        "upstreams/github.yaml",
        saas_said=('"github_api": "unhealthy"', '"status": "degraded"'),
        alerts=("ApplicationDown", "GitHubAPIRateLimitLow", "Watchdog"),
    ),
    Case(
        "linkcheck",
        "upstreams/status.yaml",
        saas_said=('"upstream"', '"ok": false'),
        alerts=("LinkcheckDown", "DeadMansSwitch"),
        # redis:7-alpine cannot be pulled here (branch linkcompose switches it)
        compose_lines={"docker.io/library/redis:7-alpine": "docker.io/library/redis:7.0-bookworm"},
        # /healthz is not the runbook's shape: its contract (the header's "health") is filled
        # in first, from the example's own file, the stand-in's entry under init's name
        health_from_example={"upstream": "status_api"},
        first_too=("test_health_follows_each_dependency_down_and_back",),
    ),
]


def project_copy(case: Case, tmp_path: Path) -> Path:
    """The example's compose file to init from: itself, or a copy with ``compose_lines`` fixed
    (the copy holds the whole example, so the compose file's relative paths still hold)."""
    source = EXAMPLES / case.example / "docker-compose.yml"
    text = source.read_text()
    if not any(old in text for old in case.compose_lines):
        return source
    dest = tmp_path / "example"
    subprocess.run(["cp", "-r", str(source.parent), str(dest)], check=True)
    for old, new in case.compose_lines.items():
        text = text.replace(old, new)
    (dest / "docker-compose.yml").write_text(text)
    return dest / "docker-compose.yml"


@dataclass
class Run:
    failed: dict[str, str]  # test name → its failure text
    passed: list[str]
    attachments: str
    tail: str


def run_checks(eng: engine.Engine, project: Path, tmp: Path, *extra: str) -> Run:
    """The health checks (and ``extra``) on the compose backend, in a subprocess."""
    junit, allure = tmp / "junit.xml", tmp / "allure"
    argv = [
        sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *CHECKS, *extra,
        "--stack", "compose", "--project", str(project), "--run-dir", str(tmp / "runs"),
        "--junitxml", str(junit), "--alluredir", str(allure),
    ]  # fmt: skip
    env = {**os.environ, "DOCKER_HOST": eng.url, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, env=env, timeout=600)
    tail = done.stdout[-5000:] + done.stderr[-2000:]
    assert junit.is_file(), tail
    failed, passed = {}, []
    for case in ET.parse(junit).iter("testcase"):
        name = case.get("name", "").split("[")[0]
        bad = case.find("failure") if case.find("failure") is not None else case.find("error")
        if bad is not None:
            failed[name] = (bad.get("message") or "") + (bad.text or "")
        elif case.find("skipped") is None:
            passed.append(name)
    said = "\n".join(p.read_text(errors="replace") for p in allure.glob("*-attachment.*"))
    return Run(failed, passed, said, tail)


def with_health(case: Case, text: str) -> str:
    """The health contract filled in where the target's answer is not the runbook's shape."""
    doc = yaml.safe_load(text)
    if case.health_from_example is not None:
        own = yaml.safe_load((EXAMPLES / case.example / "synthmon.yaml").read_text())
        health = own["health"]
        renamed = {case.health_from_example.get(k, k): v for k, v in health["entries"].items()}
        # an entry's dependency must be a service: the stand-in's only once it is one
        health["entries"] = {k: v for k, v in renamed.items() if k in doc["services"]}
        doc["health"] = health
    return yaml.safe_dump(doc, sort_keys=False)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.example)
def test_init_then_the_health_checks(case: Case, found: engine.Engine, tmp_path: Path) -> None:
    generated = tmp_path / "synthmon.yaml"
    started = init_from([project_copy(case, tmp_path)], output=generated)
    try:
        # 1. as init wrote it: only the target's health fails, naming the SaaS
        generated.write_text(with_health(case, started.text))
        first = run_checks(found, generated, tmp_path / "first", SCENARIOS_CHECK)
        expected = {HEALTH, "test_every_alert_has_a_scenario", *case.known, *case.first_too}
        assert set(first.failed) == expected, first.tail
        assert "503" in first.failed[HEALTH], first.failed[HEALTH]
        for said in case.saas_said:
            assert said in first.attachments, f"the health answer does not say {said}"
        assert len(first.passed) >= 4, first.tail  # Prometheus, Alertmanager, targets, log
        # the alerts init listed without a scenario: the scenarios check names them
        untested = first.failed["test_every_alert_has_a_scenario"]
        for alert in case.alerts:
            assert f"#   {alert}: {{cause: ..., faults: [...]}}" in started.text
            assert repr(alert) in untested, untested
        # 2. the stand-in uncommented, its routes the example's own: every check passes
        routes = EXAMPLES / case.example / case.routes
        generated.write_text(with_health(case, uncomment_stand_ins(started.text, routes)))
        second = run_checks(found, generated, tmp_path / "second")
        assert set(second.failed) == set(case.known), second.tail
        for check, text in case.known.items():
            assert text in second.failed[check], second.failed[check]
        assert HEALTH in second.passed, second.tail
        if case.health_from_example is not None:
            assert "test_health_follows_each_dependency_down_and_back" in second.passed
    finally:
        remove_dead_projects(found, PROJECT_PREFIX)
    # other runs share the engine: this test's are the projects named after its run dirs
    mine = [d.name for d in tmp_path.glob("*/runs/run-*")]
    assert len(mine) == 2, mine
    left = [item for item in leftovers(found) if any(m in item for m in mine)]
    assert not left, "left behind: " + ", ".join(left)
