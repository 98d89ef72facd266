"""The processes runner: readiness deadlines with log tails, teardown of whole process groups,
and cleanup after a run that died without tearing down."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from synthmon.errors import StackError
from synthmon.stack.cleanup import clean_stale_runs
from synthmon.stack.processes import ProcessRunner
from synthmon.stack.service import CommandProbe, HttpProbe, Service, TcpProbe
from synthmon.stack.stack import free_ports

PY = sys.executable


def http_server(name: str, port: int) -> Service:
    return Service(
        name=name,
        argv=(PY, "-m", "http.server", "--bind", "127.0.0.1", str(port), "-d", "{data}"),
        probe=HttpProbe(f"http://127.0.0.1:{port}/"),
        configs={"note.txt": "rendered config"},
    )


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_start_probe_and_stop_whole_group(tmp_path: Path) -> None:
    (port,) = free_ports(1)
    runner = ProcessRunner(tmp_path, startup_timeout=20)
    # a parent that spawns a child: stopping must take both
    service = Service(
        name="tree",
        argv=(PY, "-c", "import subprocess, sys; subprocess.run([sys.executable, '-m', "
              f"'http.server', '--bind', '127.0.0.1', '{port}'])"),
        probe=TcpProbe("127.0.0.1", port),
    )  # fmt: skip
    runner.start(service)
    parent = runner.pid("tree")
    children = [c.pid for c in psutil.Process(parent).children(recursive=True)]
    assert children, "expected the service to have a child process"
    runner.stop_all()
    assert all(gone(pid) for pid in [parent, *children])
    assert not (tmp_path / "pids.json").exists()
    assert (tmp_path / "logs" / "tree.log").exists(), "logs must outlive the run"


def test_configs_and_placeholders(tmp_path: Path) -> None:
    (port,) = free_ports(1)
    runner = ProcessRunner(tmp_path, startup_timeout=20)
    try:
        runner.start(http_server("web", port))
        assert (runner.conf_dir("web") / "note.txt").read_text() == "rendered config"
        assert runner.is_running("web")
    finally:
        runner.stop_all()
    assert not (tmp_path / "data").exists(), "data dirs are removed at teardown"


def test_never_ready_fails_with_probe_and_log_tail(tmp_path: Path) -> None:
    (port,) = free_ports(1)
    runner = ProcessRunner(tmp_path, startup_timeout=1.5)
    service = Service(
        name="sleepy",
        argv=(PY, "-c", "import time; print('still warming up', flush=True); time.sleep(60)"),
        probe=TcpProbe("127.0.0.1", port),
    )
    with pytest.raises(StackError) as caught:
        runner.start(service)
    message = str(caught.value)
    assert f"sleepy not ready after 1.5s: probed TCP connect 127.0.0.1:{port}" in message
    assert "still warming up" in message
    assert not runner.is_running("sleepy"), "a service that failed to start is stopped"
    runner.stop_all()


def test_early_exit_is_reported_at_once(tmp_path: Path) -> None:
    runner = ProcessRunner(tmp_path, startup_timeout=30)
    service = Service(
        name="crashy",
        argv=(PY, "-c", "import sys; print('bad config line 3'); sys.exit(3)"),
        probe=CommandProbe(("false",)),
    )
    started = time.monotonic()
    with pytest.raises(StackError, match=r"crashy exited with code 3 before it was ready"):
        runner.start(service)
    assert time.monotonic() - started < 10
    assert "bad config line 3" in runner.tail("crashy")


@pytest.mark.runs_missing_program("/nonexistent/binary")
def test_missing_binary(tmp_path: Path) -> None:
    runner = ProcessRunner(tmp_path, startup_timeout=5)
    service = Service(name="ghost", argv=("/nonexistent/binary",), probe=CommandProbe(("true",)))
    with pytest.raises(StackError, match="ghost: cannot run '/nonexistent/binary'"):
        runner.start(service)


def test_sigterm_ignoring_service_is_killed(tmp_path: Path) -> None:
    (port,) = free_ports(1)
    runner = ProcessRunner(tmp_path, startup_timeout=20)
    code = (
        "import signal, socket, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        f"s = socket.socket(); s.bind(('127.0.0.1', {port})); s.listen(); time.sleep(120)"
    )
    runner.start(Service(name="stubborn", argv=(PY, "-c", code), probe=TcpProbe("127.0.0.1", port)))
    pid = runner.pid("stubborn")
    runner.stop("stubborn", grace=0.5)
    assert gone(pid)


def test_stale_run_is_cleaned(tmp_path: Path) -> None:
    """A run whose owner died (SIGKILL) leaves services behind; the next run ends them."""
    (port,) = free_ports(1)
    run_dir = tmp_path / "run-old"
    owner = subprocess.Popen([PY, "-c", "pass"])
    owner.wait()
    runner = ProcessRunner(run_dir, startup_timeout=20)
    runner.start(http_server("web", port))
    pid = runner.pid("web")
    record = json.loads((run_dir / "pids.json").read_text())
    record["owner"] = owner.pid  # as if the owner were SIGKILLed mid-run
    (run_dir / "pids.json").write_text(json.dumps(record))
    try:
        assert clean_stale_runs(tmp_path) == [f"run-old/web (pid {pid})"]
        assert runner._running["web"].process.wait(timeout=5) == -signal.SIGKILL
        assert not (run_dir / "data").exists()
    finally:
        runner.stop_all()


def test_live_run_is_left_alone(tmp_path: Path) -> None:
    (port,) = free_ports(1)
    runner = ProcessRunner(tmp_path / "run-live", startup_timeout=20)
    runner.start(http_server("web", port))
    record = json.loads((tmp_path / "run-live" / "pids.json").read_text())
    owner = subprocess.Popen(["sleep", "60"])  # a live process that is not us (getppid() may be
    record["owner"] = owner.pid  # 0 when pytest is a container's PID 1)
    (tmp_path / "run-live" / "pids.json").write_text(json.dumps(record))
    try:
        assert clean_stale_runs(tmp_path) == []
        assert runner.is_running("web")
    finally:
        owner.kill()
        owner.wait()
        runner.stop_all()
