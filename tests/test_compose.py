"""The compose backend on a real engine (Podman here): the reference example's own
docker-compose.yml runs the suite's health checks, the health contract (each dependency stopped
in turn), alert scenarios caused from outside (the app stopped; latency on its PostgreSQL link
through the fault proxy that took over the database's name) and the recovery drill (pg_dump and
pg_restore with `compose exec` in the database's container). Nothing of a run outlives it, and a
SIGKILLed run's project is removed by the next one.

Skipped when no engine answers, unless SYNTHMON_REQUIRE_CONTAINERS=1 (``make test`` sets it).
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import docker
import pytest

from synthmon.settings import Settings
from synthmon.stack import engine
from synthmon.stack.compose import PROJECT_PREFIX
from synthmon.stack.compose_runner import PROJECT_LABEL, remove_dead_projects
from synthmon.stack.container_service import (
    RUN_LABEL,
    labels_of,
    listed,
    name_of,
    remove_stale,
)
from tests._engine import engine_with

ROOT = Path(__file__).resolve().parents[1]
PROJECT = ROOT / "examples" / "manager-app" / "synthmon.yaml"
USED = ("postgres", "redis", "prometheus", "alertmanager", "pushgateway", "app", "tools")

pytestmark = [pytest.mark.selftest, pytest.mark.xdist_group("containers")]


@pytest.fixture(scope="module")
def found() -> engine.Engine:
    images = Settings().images
    return engine_with({k: images[k] for k in USED}, "compose backend")


def leftovers(found: engine.Engine, pid: int | None = None) -> list[str]:
    """Containers, networks and volumes of synthmon's compose projects still on the engine;
    with ``pid``, only those of the run of that process (others may run on the same engine)."""

    def ours(project: str) -> bool:
        return project.startswith(PROJECT_PREFIX) and (pid is None or project.endswith(f"-{pid}"))

    client: docker.DockerClient = found.client()
    try:
        seen = [
            f"container {name_of(c)}"
            for c in listed(client, PROJECT_LABEL)
            if labels_of(c).get(RUN_LABEL) and ours(labels_of(c).get(PROJECT_LABEL, ""))
        ]
        for kind, items in (("network", client.networks), ("volume", client.volumes)):
            for item in items.list(filters={"label": PROJECT_LABEL}):
                if ours((item.attrs.get("Labels") or {}).get(PROJECT_LABEL, "")):
                    seen.append(f"{kind} {item.name}")
        return seen
    finally:
        client.close()


def test_the_suite_runs_on_the_examples_compose_file(found: engine.Engine, tmp_path: Path) -> None:
    argv = [
        sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
        "checks/test_health.py", "checks/test_health_contract.py", "checks/test_alerts.py",
        "examples/manager-app/checks/test_recovery.py",
        "-k", "not test_alert or ApplicationDown or HighResponseTime",
        "--stack", "compose", "--project", str(PROJECT), "--run-dir", str(tmp_path / "runs"),
    ]  # fmt: skip
    env = {**os.environ, "DOCKER_HOST": found.url}
    run = subprocess.Popen(
        argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    try:
        stdout = run.communicate(timeout=900)[0]
    finally:
        if run.poll() is None:
            run.kill()
            run.wait(timeout=30)
    tail = stdout[-5000:]
    assert run.returncode == 0, tail
    assert "stack: compose" in stdout, tail
    for alert in ("ApplicationDown", "HighResponseTime"):
        assert f"{alert} firing at" in stdout, tail
    left = leftovers(found, run.pid)  # the run directory is named after its pytest's PID
    assert left == [], "left behind: " + ", ".join(left)


UP_WITHIN_S = 240.0  # a bound on a hang, not a speed target


def until_up(process: subprocess.Popen[str]) -> list[str]:
    """The lines ``SCRIPT`` printed, up to its "UP" (or its end: then they say why)."""
    assert process.stdout is not None
    said: list[str] = []
    deadline = time.monotonic() + UP_WITHIN_S
    while not (said and said[-1].startswith("UP")) and time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 1.0)
        line = process.stdout.readline() if ready else ""
        if ready and not line:
            break  # it ended
        said += [line] if line else []
    return said


SCRIPT = """
import sys, time
from synthmon.settings import Settings
from synthmon.stack.stack import open_stack
values = {"stack": "compose", "project": sys.argv[1], "run_dir": sys.argv[2]}
settings = Settings.from_values(lambda option: values.get(option.name))
with open_stack(settings) as stack:
    print("UP", stack.app_url, flush=True)
    time.sleep(600)
"""


def test_a_sigkilled_runs_project_is_removed_by_the_next_run(
    found: engine.Engine, tmp_path: Path
) -> None:
    env = {**os.environ, "DOCKER_HOST": found.url}
    process = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(PROJECT), str(tmp_path / "runs")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT,
        start_new_session=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        said = until_up(process)
        assert said[-1:] and said[-1].startswith("UP"), "".join(said)[-3000:]
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        left = leftovers(found, process.pid)
        assert left, "a SIGKILLed run leaves its project (else this test proves nothing)"
        removed = remove_stale(found)  # what the next run does first
        remove_dead_projects(found, PROJECT_PREFIX)
        assert removed
        assert leftovers(found, process.pid) == [], leftovers(found, process.pid)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
        remove_stale(found)
        remove_dead_projects(found, PROJECT_PREFIX)


@pytest.mark.parametrize(
    ("signum", "when"),
    [(signal.SIGINT, "while Compose brings it up"), (signal.SIGTERM, "once it is up")],
)
def test_ctrl_c_or_sigterm_takes_the_whole_project_down(
    found: engine.Engine, tmp_path: Path, signum: int, when: str
) -> None:
    env = {**os.environ, "DOCKER_HOST": found.url}
    process = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(PROJECT), str(tmp_path / "runs")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT,
    )  # fmt: skip
    assert process.stdout is not None
    try:
        if signum == signal.SIGINT:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not leftovers(found, process.pid):
                time.sleep(0.2)  # until the run's first container exists: Compose is at work
            assert leftovers(found, process.pid), "Compose never started"
        else:
            said = until_up(process)
            assert said[-1:] and said[-1].startswith("UP"), "".join(said)[-3000:]
        process.send_signal(signum)
        output = process.communicate(timeout=180)[0]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
    assert process.returncode != 0, output[-2000:]
    left = leftovers(found, process.pid)
    assert left == [], f"{when}: left behind " + ", ".join(left)
