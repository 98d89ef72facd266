"""Teardown after interruptions: Ctrl-C (SIGINT) mid-scenario stops every service and frees
every port; after a SIGKILL the services outlive pytest, and the next run removes them."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[1]
SERVICES = {
    "faultproxy",  # the reference example's scenarios put toxics on the app's PostgreSQL link
    "postgres",
    "redis",
    "github",
    "jaeger",  # the app's traces and logs (its collector) and the log store
    "logs",
    "sinks",
    "pushgateway",
    "app",
    "alertmanager",
    "prometheus",
}

pytestmark = pytest.mark.selftest


@pytest.fixture
def run_base() -> Iterator[Path]:
    """A run directory base PostgreSQL (another user) can traverse: pytest's tmp_path is 0700."""
    base = Path(tempfile.mkdtemp(prefix="synthmon-interrupt-"))
    yield base
    shutil.rmtree(base, ignore_errors=True)


def start_scenario(run_dir: Path) -> subprocess.Popen[bytes]:
    """A real alert scenario in a pytest subprocess (it runs for ~20 s once the stack is up)."""
    argv = [
        sys.executable, "-m", "pytest", "checks/test_alerts.py",
        "-k", "HighErrorRate",
        "-p", "no:cacheprovider", "--run-dir", str(run_dir),
    ]  # fmt: skip
    return subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_for_stack(run_dir: Path, pytest_proc: subprocess.Popen[bytes]) -> dict[str, int]:
    """The service PIDs once the whole stack is up and the scenario has begun."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert pytest_proc.poll() is None, "the scenario ended before it could be interrupted"
        for record in run_dir.glob("*/pids.json"):
            with_pids = json.loads(record.read_text() or "{}").get("pids", {})
            if set(with_pids) == SERVICES:
                time.sleep(3)  # into the scenario: chaos on, traffic flowing
                return {name: int(pid) for name, pid in with_pids.items()}
        time.sleep(0.2)
    raise AssertionError(f"stack did not come up under {run_dir}")


def listening_ports(pids: dict[str, int]) -> set[int]:
    ports = set()
    for pid in pids.values():
        try:
            for proc in [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]:
                ports |= {c.laddr.port for c in proc.net_connections() if c.status == "LISTEN"}
        except psutil.Error:
            continue
    return ports


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        # as every server does: a port with connections in TIME_WAIT is free to listen on
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupt_mid_scenario_stops_everything(run_base: Path, signum: signal.Signals) -> None:
    """Ctrl-C, or a CI runner's SIGTERM, in the middle of an alert scenario."""
    proc = start_scenario(run_base)
    try:
        pids = wait_for_stack(run_base, proc)
        ports = listening_ports(pids)
        assert ports, "expected the stack to listen on some ports"
        proc.send_signal(signum)
        proc.wait(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 2, f"pytest should report an interrupted run, got {proc.returncode}"
    left = {name: pid for name, pid in pids.items() if alive(pid)}
    assert not left, f"services still running after {signum.name}: {left}"
    taken = sorted(p for p in ports if not port_free(p))
    assert not taken, f"ports still taken after {signum.name}: {taken}"
    assert not list(run_base.glob("*/pids.json")) and not list(run_base.glob("*/data"))


def test_next_run_cleans_up_after_a_sigkilled_one(run_base: Path) -> None:
    proc = start_scenario(run_base)
    try:
        pids = wait_for_stack(run_base, proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        survivors = {name: pid for name, pid in pids.items() if alive(pid)}
        assert survivors == pids, "services run in their own sessions and outlive a SIGKILL"
        follow_up = subprocess.run(
            [sys.executable, "-m", "pytest", "checks/test_health.py", "-k", "prometheus",
             "-p", "no:cacheprovider", "--run-dir", str(run_base)],
            cwd=ROOT, capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        assert follow_up.returncode == 0, follow_up.stdout[-2000:]
        for pid in pids.values():
            with_deadline = time.monotonic() + 10
            while alive(pid) and time.monotonic() < with_deadline:
                time.sleep(0.1)
        left = {name: pid for name, pid in pids.items() if alive(pid)}
        assert not left, f"stale services of the killed run were not removed: {left}"
        assert not list(run_base.glob("*/pids.json")) and not list(run_base.glob("*/data"))
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in pids.values() if "pids" in locals() else ():
            if alive(pid):
                os.killpg(pid, signal.SIGKILL)
