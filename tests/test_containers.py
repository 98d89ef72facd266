"""The containers backend on a real engine (Podman here, via DOCKER_HOST): the suite's checks
pass on it, faults act on containers, a container that never gets ready fails with its last
log lines, and no container outlives its run, also after Ctrl-C or a SIGKILLed run.

Skipped when no engine answers, unless SYNTHMON_REQUIRE_CONTAINERS=1 (``make test`` sets it,
with scripts/podman.sh and images/build.sh run first): then a missing engine is a failure.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from synthmon.errors import StackError
from synthmon.settings import Settings
from synthmon.stack import engine
from synthmon.stack.container_service import (
    OWNER_LABEL,
    OWNER_START_LABEL,
    RUN_LABEL,
    ContainerService,
    listed,
    name_of,
    owner_labels,
    remove_stale,
)
from synthmon.stack.containers import ContainerRunner
from synthmon.stack.service import HttpProbe, TcpProbe
from synthmon.stack.stack import free_ports
from tests._engine import engine_with

ROOT = Path(__file__).resolve().parents[1]
IMAGES = Settings().images
SMALL_IMAGE = IMAGES["redis"]  # any image with sh will do; this one also serves a real probe

pytestmark = pytest.mark.selftest


@pytest.fixture(scope="module")
def found() -> engine.Engine:
    return engine_with(IMAGES, "containers backend")


@pytest.fixture
def client(found: engine.Engine) -> Iterator[docker.DockerClient]:
    opened = found.client()
    try:
        yield opened
    finally:
        opened.close()


def owned_by(client: docker.DockerClient, pid: int) -> list[str]:
    """Names of the containers a run with owner ``pid`` left behind."""
    listed = client.containers.list(all=True, filters={"label": f"{OWNER_LABEL}={pid}"})
    return [str(c.name) for c in listed]


def engine_env(found: engine.Engine) -> dict[str, str]:
    return {**os.environ, "DOCKER_HOST": found.url, "PYTHONUNBUFFERED": "1"}


# -- the suite itself --------------------------------------------------------------------------
ALERTS = "checks/test_alerts.py::test_alert_fires_reaches_its_receivers_and_resolves"
SUITE = (
    "checks/test_health.py", f"{ALERTS}[ApplicationDown]",
    f"{ALERTS}[DatabaseConnectionFailure]", "load", "slo",
)  # fmt: skip


def test_health_alerts_and_smoke_slo_gate_pass_on_containers(
    found: engine.Engine, client: docker.DockerClient, tmp_path: Path
) -> None:
    argv = [
        sys.executable, "-m", "pytest", *SUITE, "-p", "no:cacheprovider",
        "--stack", "containers", "--load-profile", "smoke", "--run-dir", str(tmp_path),
    ]  # fmt: skip
    process = subprocess.Popen(
        argv, cwd=ROOT, env=engine_env(found), text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    out, _ = process.communicate(timeout=420)
    assert process.returncode == 0, f"suite failed on containers:\n{out[-5000:]}"
    assert "stack: containers" in out, out[-2000:]
    assert " passed" in out.splitlines()[-1] and "failed" not in out.splitlines()[-1]
    assert owned_by(client, process.pid) == [], "containers left after the run"
    logs = next(tmp_path.glob("run-*/logs"))
    for service in ("postgres", "redis", "app", "prometheus", "alertmanager", "pushgateway"):
        assert (logs / f"{service}.log").stat().st_size > 0, f"no log captured for {service}"


def test_sigint_while_starting_leaves_no_container(
    found: engine.Engine, client: docker.DockerClient, tmp_path: Path
) -> None:
    argv = [
        sys.executable, "-m", "pytest", "checks/test_health.py", "-p", "no:cacheprovider",
        "--stack", "containers", "--run-dir", str(tmp_path),
    ]  # fmt: skip
    process = subprocess.Popen(
        argv, cwd=ROOT, env=engine_env(found), text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while len(owned_by(client, process.pid)) < 2 and process.poll() is None:
            assert time.monotonic() < deadline, "the run never started two containers"
            time.sleep(0.05)
        assert process.poll() is None, process.communicate()[0][-3000:]
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=90)
    finally:
        if process.poll() is None:
            process.kill()
    assert owned_by(client, process.pid) == [], f"containers left after SIGINT:\n{out[-3000:]}"
    assert "KeyboardInterrupt" in out or "Interrupted" in out, out[-3000:]


# -- the runner on its own ---------------------------------------------------------------------
def shell_service(script: str, port: int) -> ContainerService:
    return ContainerService(
        name="lonely", image=SMALL_IMAGE, argv=("sh", "-c", script),
        probe=HttpProbe(f"http://127.0.0.1:{port}/"),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("script", "last_line", "expected"),
    [
        ("trap 'exit 143' TERM; echo starting; echo still waiting on the db; sleep 60 & wait",
         "still waiting on the db", "not ready after 2s"),
        ("echo cannot read config >&2; exit 3", "cannot read config",
         "exited with code 3 before it was ready"),
    ],
)  # fmt: skip
def test_a_container_that_never_gets_ready_fails_with_its_last_log_lines(
    found: engine.Engine,
    client: docker.DockerClient,
    tmp_path: Path,
    script: str,
    last_line: str,
    expected: str,
) -> None:
    (port,) = free_ports(1)
    runner = ContainerRunner(tmp_path, startup_timeout=2, engine=found)
    try:
        with pytest.raises(StackError) as caught:
            runner.start(shell_service(script, port))
    finally:
        runner.stop_all()
    message = str(caught.value)
    assert expected in message and f"GET http://127.0.0.1:{port}/" in message, message
    assert last_line in message, f"last log line {last_line!r} not in: {message}"
    assert owned_by(client, os.getpid()) == []


def redis_ping(port: int, timeout: float = 0.5) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        conn.sendall(b"PING\r\n")
        return conn.recv(64)


def test_faults_stop_kill_pause_and_restart_a_container(
    found: engine.Engine, client: docker.DockerClient, tmp_path: Path
) -> None:
    (port,) = free_ports(1)
    service = ContainerService(
        name="redis", image=IMAGES["redis"],
        argv=("redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", ""),
        probe=TcpProbe("127.0.0.1", port),
    )  # fmt: skip
    runner = ContainerRunner(tmp_path, startup_timeout=20, engine=found)
    try:
        runner.start(service)
        assert redis_ping(port) == b"+PONG\r\n"
        runner.signal("redis", signal.SIGSTOP)  # paused: alive, but answers nothing
        assert runner.is_running("redis")
        with pytest.raises(TimeoutError):
            redis_ping(port)
        runner.signal("redis", signal.SIGCONT)
        assert redis_ping(port) == b"+PONG\r\n"
        runner.kill("redis")
        assert not runner.is_running("redis")
        runner.restart("redis")
        runner.stop("redis")
        assert not runner.is_running("redis")
        runner.restart("redis")
        assert redis_ping(port) == b"+PONG\r\n"
        assert runner.pid("redis") > 1
        assert "Ready to accept connections" in runner.log_path("redis").read_text()
    finally:
        runner.stop_all()
    assert owned_by(client, os.getpid()) == []


def test_containers_of_a_dead_run_are_removed_and_a_live_runs_are_kept(
    found: engine.Engine, client: docker.DockerClient
) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    owners = (
        {OWNER_LABEL: str(dead.pid), OWNER_START_LABEL: "1.00"},  # its process is gone
        owner_labels(os.getpid()),  # this very test run: alive
    )
    made = [
        client.containers.create(SMALL_IMAGE, ["sleep", "1"], labels={RUN_LABEL: "t", **owner})
        for owner in owners
    ]
    try:
        removed = remove_stale(found)
        names = {name_of(c) for c in listed(client, RUN_LABEL)}
        assert made[0].name in removed and made[0].name not in names
        assert made[1].name in names, "a live run's container was removed"
    finally:
        made[1].remove(force=True, v=True)


# -- what --stack auto decides -----------------------------------------------------------------
def test_auto_picks_containers_only_when_the_engine_holds_every_image(
    found: engine.Engine,
) -> None:
    env = {"DOCKER_HOST": found.url}
    chosen = engine.choose(IMAGES, env)
    assert (chosen.kind, chosen.engine) == ("containers", found), chosen.reason
    lacking = engine.choose({**IMAGES, "redis": "synthmon/no-such-image:0"}, env)
    assert lacking.kind == "processes"
    assert "lacks images: redis (synthmon/no-such-image:0)" in lacking.reason
    nobody = engine.choose(IMAGES, {"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    assert nobody.kind == "processes" and "no container engine answered" in nobody.reason
