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
from synthmon.stack.container_service import RUN_LABEL, remove_stale

ROOT = Path(__file__).resolve().parents[1]
PROJECT = ROOT / "examples" / "manager-app" / "synthmon.yaml"
USED = ("postgres", "redis", "prometheus", "alertmanager", "pushgateway", "app", "tools")

pytestmark = [pytest.mark.selftest, pytest.mark.xdist_group("containers")]


@pytest.fixture(scope="module")
def found() -> engine.Engine:
    found, tried = engine.find_engine()
    if found is None:
        if os.environ.get("SYNTHMON_REQUIRE_CONTAINERS") == "1":
            pytest.fail(f"SYNTHMON_REQUIRE_CONTAINERS=1 but {tried}", pytrace=False)
        pytest.skip(f"compose backend: {tried}")
    images = Settings().images
    missing = engine.missing_images(found, {k: images[k] for k in USED})
    if missing:
        pytest.fail(f"{found.product}: images missing, run images/build.sh: {missing}")
    return found


def leftovers(found: engine.Engine) -> list[str]:
    """Containers, networks and volumes of synthmon's compose projects still on the engine."""
    client: docker.DockerClient = found.client()
    try:
        seen = [f"container {c.name}" for c in client.containers.list(
            all=True, filters={"label": PROJECT_LABEL}) if c.labels.get(RUN_LABEL)]  # fmt: skip
        for kind, items in (("network", client.networks), ("volume", client.volumes)):
            for item in items.list(filters={"label": PROJECT_LABEL}):
                project = (item.attrs.get("Labels") or {}).get(PROJECT_LABEL, "")
                if project.startswith(PROJECT_PREFIX):
                    seen.append(f"{kind} {item.name}")
        return seen
    finally:
        client.close()


def test_the_suite_runs_on_the_examples_compose_file(found: engine.Engine, tmp_path: Path) -> None:
    before = set(leftovers(found))
    argv = [
        sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
        "checks/test_health.py", "checks/test_health_contract.py", "checks/test_alerts.py",
        "examples/manager-app/checks/test_recovery.py",
        "-k", "not test_alert or ApplicationDown or HighResponseTime",
        "--stack", "compose", "--project", str(PROJECT), "--run-dir", str(tmp_path / "runs"),
    ]  # fmt: skip
    env = {**os.environ, "DOCKER_HOST": found.url}
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, env=env, timeout=900)
    tail = done.stdout[-4000:] + done.stderr[-2000:]
    assert done.returncode == 0, tail
    assert "stack: compose" in done.stdout, tail
    for alert in ("ApplicationDown", "HighResponseTime"):
        assert f"{alert} firing at" in done.stdout, tail
    assert " failed" not in done.stdout.splitlines()[-1], tail
    assert set(leftovers(found)) <= before, "left behind: " + ", ".join(
        sorted(set(leftovers(found)) - before)
    )


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
        deadline = time.monotonic() + 240
        line = ""
        while time.monotonic() < deadline and not line.startswith("UP"):
            line = process.stdout.readline()
            if not line and process.poll() is not None:
                break
        assert line.startswith("UP"), f"the stack did not come up: {line}"
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        left = leftovers(found)
        assert left, "a SIGKILLed run leaves its project (else this test proves nothing)"
        removed = remove_stale(found)  # what the next run does first
        remove_dead_projects(found, PROJECT_PREFIX)
        assert removed
        assert leftovers(found) == [], leftovers(found)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
        remove_stale(found)
        remove_dead_projects(found, PROJECT_PREFIX)
