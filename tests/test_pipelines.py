"""The pipeline examples: their commands run against the second example (examples/linkcheck,
standing in for the user's service), the GitLab file has what GitLab requires, and the JUnit
ids are stable: one case per alert scenario (its alert's name) and per SLO objective (its
name). actionlint checks the GitHub files in `make lint` (scripts/actionlint.sh)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from synthmon.projectfile import load_project
from synthmon.settings import OPTIONS
from synthmon.slo import load_spec

ROOT = Path(__file__).resolve().parents[1]
PIPELINES = ROOT / "examples/pipelines"
SERVICE = ROOT / "examples/linkcheck"  # "your service"
BIN = Path(sys.executable).parent


def run_commands(workflow: Path) -> list[str]:
    """The `synthmon ...` and `pytest ...` commands of a workflow's run: steps, continuations
    joined, in order."""
    doc = yaml.safe_load(workflow.read_text())
    found = []
    for job in doc["jobs"].values():
        for step in job["steps"]:
            script = step.get("run", "").replace("\\\n", " ")
            found += [
                " ".join(line.split())
                for line in script.splitlines()
                if re.match(r"\s*(synthmon|pytest)\s", line)
            ]
    return found


def run(command: str, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """``command`` as the pipeline's shell runs it, from the service's directory, with this
    checkout as the suite and this venv's synthmon and pytest."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNTHMON_")}
    env |= {
        "PATH": f"{BIN}:{env['PATH']}", "SUITE_DIR": str(ROOT),
        "RESULTS": str(tmp_path / "results"), "GITHUB_SHA": "0" * 40,
    }  # fmt: skip
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", command + "".join(f" {shlex.quote(a)}" for a in extra)],
        cwd=SERVICE, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def image_flags(project_file: Path) -> tuple[str, ...]:
    """How a command line sets the image of the project's service under test: its image
    setting's own flag (built-in ones) or ``--image NAME=`` (a project's own)."""
    project = load_project(project_file)
    name = project.service(project.target).image
    assert name is not None, f"{project_file}: the target has no image setting"
    fixed = {o.name.removeprefix("image_") for o in OPTIONS if o.name.startswith("image_")}
    return (f"--image-{name} ",) if name in fixed else (f"--image {name}=", f"--image={name}=")


def test_the_pr_pipeline_validates_and_runs_the_suite_on_the_users_project() -> None:
    commands = run_commands(PIPELINES / "github/pr.yml")
    assert "synthmon validate synthmon.yaml" in commands, commands
    pytests = [c for c in commands if c.startswith("pytest ")]
    assert len(pytests) == 1, commands
    for needed in ("--project synthmon.yaml", "--junitxml", "--alluredir", "--stack containers"):
        assert needed in pytests[0], pytests[0]


@pytest.mark.parametrize("pipeline", ["github/pr.yml", "gitlab/.gitlab-ci.yml"])
def test_the_pr_pipelines_run_the_image_they_built(pipeline: str) -> None:
    """The image the pipeline builds is the one the containers stack runs: the pytest command
    sets the image setting of the project's service under test (`image:` in synthmon.yaml)."""
    text = re.sub(r"\\\n\s*", " ", (PIPELINES / pipeline).read_text())
    lines = [line for line in text.splitlines() if "--stack containers" in line]
    assert lines, f"{pipeline}: no pytest command on the containers stack"
    flags = image_flags(SERVICE / "synthmon.yaml")
    for line in lines:
        unquoted = line.replace('"', "").replace("'", "")
        assert any(flag in unquoted for flag in flags), (
            f"{pipeline}: the suite runs the default image, not the one built: its pytest "
            f"command needs {' or '.join(f.strip() for f in flags)}IMAGE:\n{line.strip()}"
        )


def test_the_pr_pipelines_commands_run_against_the_second_example(tmp_path: Path) -> None:
    """validate for real; the suite collected with the project (ids relative to the suite
    rootdir, wherever it is run from); then the cheapest real subset of the same pytest
    command, the health checks on the processes stack (the pipeline's containers stack and
    its load and alert scenarios are minutes: tests/test_linkcheck_runs.py runs them)."""
    project = load_project(SERVICE / "synthmon.yaml")
    objectives = [o.name for o in load_spec(project.slo_spec).objectives]
    ran = []
    for command in run_commands(PIPELINES / "github/pr.yml"):
        if command.startswith("synthmon "):
            done = run(command, tmp_path)
            assert done.returncode == 0, f"{command}:\n{done.stdout}{done.stderr}"
            ran.append("validate")
            continue
        done = run(command, tmp_path, "--collect-only", "-q", "-p", "no:cacheprovider")
        assert done.returncode == 0, f"{command}:\n{done.stdout}{done.stderr}"
        ids = set(done.stdout.split())
        for scenario in project.scenarios:
            case = f"test_alert_fires_reaches_its_receivers_and_resolves[{scenario.id}]"
            assert f"checks/test_alerts.py::{case}" in ids, done.stdout
        for name in objectives:
            assert f"slo/test_slo_gate.py::test_objective_holds[{name}]" in ids, done.stdout
        ran.append(real_health_run(command, tmp_path))
    assert ran == ["validate", "health"], ran


def real_health_run(command: str, tmp_path: Path) -> str:
    """The pipeline's own pytest command, on processes, health checks only: it passes, and its
    JUnit XML and Allure results are where the pipeline's artifact step looks for them."""
    results = tmp_path / "results"
    done = run(command, tmp_path, "--stack", "processes", "-m", "health and not destructive",
               "-p", "no:cacheprovider")  # fmt: skip
    out = done.stdout + done.stderr
    assert done.returncode == 0, f"{command} (health on processes):\n{out[-4000:]}"
    assert "stack: processes" in out, out[-3000:]
    cases = {c.get("name"): c for c in ET.parse(results / "junit.xml").getroot().iter("testcase")}
    for name in ("test_app_health_reports_every_dependency_healthy",
                 "test_every_scrape_target_is_up", "test_alertmanager_is_healthy"):  # fmt: skip
        assert name in cases, sorted(cases)
        assert not list(cases[name]), f"{name}: {ET.tostring(cases[name], encoding='unicode')}"
    assert not any(c.get("name", "").startswith("test_alert_fires") for c in cases.values())
    assert list((results / "allure-results").glob("*-result.json")), "no Allure results"
    assert list((results / "runs").glob("run-*/logs/linkcheck.log")), "no service log"
    return "health"


def test_every_github_pipeline_checks_the_project_then_runs_it() -> None:
    for name in ("pr.yml", "nightly.yml", "pre-release.yml"):
        commands = run_commands(PIPELINES / "github" / name)
        assert commands[0] == "synthmon validate synthmon.yaml", (name, commands)
        assert any("--project synthmon.yaml" in c for c in commands), (name, commands)
    gate = [c for c in run_commands(PIPELINES / "github/pre-release.yml") if "synthmon gate" in c]
    assert gate and "--spec slo/slo.yaml" in gate[0] and '"${regression[@]}"' in gate[0], gate


#: Top-level keys of .gitlab-ci.yml that are not jobs (GitLab's reserved keywords).
GITLAB_GLOBALS = {"default", "include", "stages", "variables", "workflow", "image", "services",
                  "cache", "before_script", "after_script"}  # fmt: skip


def test_the_gitlab_file_has_what_gitlab_requires() -> None:
    doc = yaml.safe_load((PIPELINES / "gitlab/.gitlab-ci.yml").read_text())
    stages = doc["stages"]
    assert isinstance(stages, list) and stages, doc.keys()
    jobs = {k: v for k, v in doc.items() if k not in GITLAB_GLOBALS and not k.startswith(".")}
    assert set(jobs) == {"synthetic-suite", "nightly-synthetic", "pre-release-gate"}, jobs.keys()
    before = doc["default"]["before_script"]
    assert "synthmon validate synthmon.yaml" in before, before
    for name, job in jobs.items():
        assert job["stage"] in stages, name
        script = job["script"]
        assert isinstance(script, list) and all(isinstance(s, str) for s in script), name
        assert any("--project synthmon.yaml" in s for s in script), (name, script)
        assert job["artifacts"]["reports"]["junit"] == "synthmon-results/junit.xml", name
        assert job["artifacts"]["when"] == "always", name
        assert isinstance(job["rules"], list) and all("if" in r for r in job["rules"]), name


def test_junit_has_one_case_per_objective_with_its_name(tmp_path: Path) -> None:
    """A real (seconds) run on an external stack nobody answers: every objective's case is in
    the JUnit XML under its name, each with its own error."""
    junit = tmp_path / "junit.xml"
    done = subprocess.run(
        [str(BIN / "pytest"), str(ROOT / "slo"), "-p", "no:cacheprovider", "-q",
         "--project", str(SERVICE / "synthmon.yaml"), "--stack", "external",
         "--target-url", "http://127.0.0.1:9", "--prometheus-url", "http://127.0.0.1:9",
         "--run-dir", str(tmp_path / "runs"), f"--junitxml={junit}"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={k: v for k, v in os.environ.items() if not k.startswith("SYNTHMON_")},
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    cases = ET.parse(junit).getroot().iter("testcase")
    names = [(c.get("classname"), c.get("name")) for c in cases]
    spec = load_spec(load_project(SERVICE / "synthmon.yaml").slo_spec)
    assert names == [
        ("slo.test_slo_gate", f"test_objective_holds[{o.name}]") for o in spec.objectives
    ], names
