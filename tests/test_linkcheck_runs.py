"""The second example runs for real: on the processes backend, linkcheck's health and trace
checks and its LinkcheckDown scenario (a strict xfail until the email sink can attribute the
team's own templates, issue 13: a pass fails this test too), in bounded time, with the test
stack's "not scraped" notes in the Allure report; on the containers backend (its own image, built by
``images/build.sh linkcheck``), its health checks, smoke load and SLO gate end to end; on the
compose backend (its own docker-compose.yml), the same: health, every alert scenario caused from
outside the service, smoke load and SLO gate."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from synthmon.errors import ConfigError
from synthmon.projectfile import load_project
from synthmon.settings import Settings
from synthmon.stack.container_service import RUN_LABEL
from tests._engine import engine_with

ROOT = Path(__file__).resolve().parents[1]
PROJECT = ROOT / "examples/linkcheck/synthmon.yaml"
BOUND_S = 90.0
NOTE = "not scraped in the test stack: redis"


def allure_steps(results: Path) -> list[str]:
    """Every step name in an Allure results directory (test results and fixture containers)."""
    names: list[str] = []

    def walk(node: dict[str, object]) -> None:
        for step in node.get("steps", []) or []:  # type: ignore[attr-defined]
            names.append(str(step["name"]))
            walk(step)

    for path in results.glob("*-*.json"):  # results and containers (not attachments)
        doc = json.loads(path.read_text())
        if not isinstance(doc, dict):
            continue
        for part in [doc, *doc.get("befores", []), *doc.get("afters", [])]:
            walk(part)
    return names


def test_linkcheck_health_and_one_alert_scenario_run_on_processes(tmp_path: Path) -> None:
    started = time.monotonic()
    allure = tmp_path / "allure"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "checks/test_health.py", "checks/test_alerts.py",
         "checks/test_traces.py",
         "-k", "test_health or LinkcheckDown or every_alert_has or test_traces",
         "--project", str(PROJECT), "--stack", "processes", "--alluredir", str(allure),
         "--run-dir", str(tmp_path / "runs"), "-p", "no:cacheprovider", "-q", "-rA"],
        cwd=ROOT, capture_output=True, text=True, timeout=BOUND_S, check=False,
    )  # fmt: skip
    took = time.monotonic() - started
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    scenario = "checks/test_alerts.py::test_alert_fires_reaches_its_receivers_and_resolves"
    assert f"PASSED {scenario}[LinkcheckDown]" in out, out[-4000:]
    assert "PASSED checks/test_health.py::test_every_scrape_target_is_up" in out, out[-4000:]
    # traced into Jaeger: the collector's health, and a check's server, upstream and Redis spans
    assert "PASSED checks/test_traces.py::test_collector_is_healthy" in out, out[-4000:]
    traced = "test_request_produces_a_trace_with_the_expected_spans[GET /v1/links/synthmon-1]"
    assert f"PASSED checks/test_traces.py::{traced}" in out, out[-4000:]
    assert NOTE in out, out[-4000:]
    # the same note in the report: a step of the stack's setup, and its attachment
    steps = allure_steps(allure)
    assert any(s.startswith(NOTE) for s in steps), steps
    attached = [p for p in allure.glob("*-attachment.txt") if NOTE in p.read_text()]
    assert attached, sorted(p.name for p in allure.iterdir())
    assert took < BOUND_S


# -- the containers backend ----------------------------------------------------------------------
CONTAINERS_BOUND_S = 420.0


@pytest.mark.selftest  # as tests/test_containers.py: a real engine, minutes
def test_linkcheck_health_alerts_load_and_slo_gate_pass_on_containers(tmp_path: Path) -> None:
    images = Settings.from_values(lambda o: str(PROJECT) if o.name == "project" else None).images
    used = {"redis", "linkcheck", "prometheus", "alertmanager", "pushgateway"}
    found = engine_with({k: v for k, v in images.items() if k in used}, "containers backend")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNTHMON_")}
    env |= {"DOCKER_HOST": found.url, "PYTHONUNBUFFERED": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "checks/test_health.py", "checks/test_alerts.py",
         "load", "slo", "--project", str(PROJECT), "--stack", "containers",
         "--load-profile", "smoke",
         "--run-dir", str(tmp_path / "runs"), "-p", "no:cacheprovider", "-q", "-rA"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=CONTAINERS_BOUND_S,
        check=False,
    )  # fmt: skip
    out = done.stdout + done.stderr
    assert done.returncode == 0, f"linkcheck failed on containers:\n{out[-5000:]}"
    assert "stack: containers" in out, out[-3000:]
    for check in (
        "checks/test_health.py::test_app_health_reports_every_dependency_healthy",
        "checks/test_health.py::test_every_scrape_target_is_up",
        "load/test_load_run.py::",
        "slo/test_slo_gate.py::test_objective_holds[",
        *(
            f"checks/test_alerts.py::test_alert_fires_reaches_its_receivers_and_resolves[{a}]"
            for a in (
                "LinkcheckDown",
                "LinkcheckRedisDown",
                "LinkcheckErrorRateHigh",
                "LinkcheckLatencyHigh",
            )
        ),
    ):
        assert f"PASSED {check}" in out, f"{check} did not pass:\n{why_failed(out)}"
    assert "FAILED" not in out and "ERROR" not in out, out[-4000:]
    logs = next((tmp_path / "runs").glob("run-*/logs"))
    assert (logs / "linkcheck.log").stat().st_size > 0, sorted(p.name for p in logs.iterdir())
    report = json.loads(next((tmp_path / "runs").glob("run-*/slo-report.json")).read_text())
    assert report, "empty SLO report"


# -- the compose backend -------------------------------------------------------------------------
COMPOSE_BOUND_S = 420.0
SCENARIOS = (
    "LinkcheckDown",
    "LinkcheckRedisDown",
    "LinkcheckErrorRateHigh",
    "LinkcheckLatencyHigh",
)


@pytest.mark.selftest  # as tests/test_compose.py: a real engine, minutes
def test_linkcheck_health_alerts_load_and_slo_gate_pass_on_compose(tmp_path: Path) -> None:
    images = Settings.from_values(lambda o: str(PROJECT) if o.name == "project" else None).images
    used = {"redis", "linkcheck", "prometheus", "alertmanager", "tools"}
    found = engine_with({k: v for k, v in images.items() if k in used}, "compose backend")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNTHMON_")}
    env |= {"DOCKER_HOST": found.url, "PYTHONUNBUFFERED": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "checks/test_health.py", "checks/test_alerts.py",
         "load", "slo", "-k", "not test_inhibit_rule", "--project", str(PROJECT),
         "--stack", "compose", "--load-profile", "smoke",
         "--run-dir", str(tmp_path / "runs"), "-p", "no:cacheprovider", "-q", "-rA"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=COMPOSE_BOUND_S,
        check=False,
    )  # fmt: skip
    out = done.stdout + done.stderr
    assert "stack: compose" in out, out[-3000:]
    targets_up = "checks/test_health.py::test_every_scrape_target_is_up"
    for check in (
        "checks/test_health.py::test_app_health_reports_every_dependency_healthy",
        "load/test_load_run.py::test_load_run_achieved_its_target_rate",
        "slo/test_slo_gate.py::test_objective_holds[",
        *(f"checks/test_alerts.py::test_alert_fires_reaches_its_receivers_and_resolves[{a}]"
          for a in SCENARIOS),
    ):  # fmt: skip
        assert f"PASSED {check}" in out, f"{check} did not pass:\n{why_failed(out)}"
    failed = [line for line in out.splitlines() if line.startswith(("FAILED", "ERROR"))]
    assert failed == [], out[-4000:]
    assert f"PASSED {targets_up}" in out, out[-4000:]  # no pushgateway job without a Pushgateway
    logs = next((tmp_path / "runs").glob("run-*/logs"))
    assert (logs / "linkcheck.log").stat().st_size > 0, sorted(p.name for p in logs.iterdir())
    report = json.loads(next((tmp_path / "runs").glob("run-*/slo-report.json")).read_text())
    assert report, "empty SLO report"
    client = found.client()
    try:  # nothing of the run outlives it
        left = client.containers.list(
            all=True, filters={"label": f"{RUN_LABEL}={logs.parent.name}"}
        )
    finally:
        client.close()
    assert left == [], [c.name for c in left]


COMPOSE_ENV = (
    '  env:\n    LINKCHECK_UPSTREAM_URL: "${upstream.url}"\n'  # compose.env, not the service's
)


def project_copy(tmp_path: Path, old: str, new: str) -> Path:
    """The example copied with one line of its synthmon.yaml changed (the line must be there)."""
    root = tmp_path / "linkcheck"
    shutil.copytree(PROJECT.parent, root, ignore=shutil.ignore_patterns("tests", "__pycache__"))
    file = root / "synthmon.yaml"
    text = file.read_text()
    assert text.count(old) == 1, old
    file.write_text(text.replace(old, new))
    return file


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("files: [docker-compose.yml]", "files: [compose.yml]", "compose.files.0: "),
        (COMPOSE_ENV, COMPOSE_ENV.replace("upstream.url", "status.url"),
         "compose.env.LINKCHECK_UPSTREAM_URL: ${status.url} names no service"),
    ],
)  # fmt: skip
def test_linkcheck_compose_section_errors_name_the_key(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    same = "\nname: linkcheck\n"  # the project's name (telemetry.service_name is one too)
    load_project(project_copy(tmp_path, same, same))  # control: loads
    with pytest.raises(ConfigError) as error:
        load_project(project_copy(tmp_path / "bad", old, new))
    assert message in str(error.value), str(error.value)


@pytest.mark.selftest  # a real engine: the compose wiring is what points linkcheck at the fake
def test_linkcheck_on_compose_without_its_upstream_env_is_not_ready(tmp_path: Path) -> None:
    """Without compose.env the file's default (the production status API) is called: the
    stack must not come up healthy, and the error must show the upstream probe failing."""
    found = engine_with({}, "compose backend")
    project = project_copy(tmp_path, COMPOSE_ENV, "")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNTHMON_")}
    env |= {"DOCKER_HOST": found.url, "PYTHONUNBUFFERED": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "checks/test_health.py", "-k", "test_app_health_reports",
         "--project", str(project), "--stack", "compose", "--startup-timeout", "15",
         "--run-dir", str(tmp_path / "runs"), "-p", "no:cacheprovider", "-q"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    out = done.stdout + done.stderr
    assert done.returncode != 0, out[-3000:]
    assert "waiting for linkcheck ready" in out, out[-3000:]
    assert '"upstream":{"ok":false' in out, out[-3000:]


def why_failed(out: str) -> str:
    """The inner run's assertion lines (``E ...``) and its summary: a tuple of the whole tail
    would be cut to a line by pytest's repr, hiding what failed."""
    errors = [line for line in out.splitlines() if line.startswith("E ")][-40:]
    return "\n".join(errors) + "\n...\n" + out[-2500:]
