"""``synthmon up`` keeps the project's stack up until Ctrl-C/SIGTERM, then nothing outlives it;
``--keep-stack`` leaves a failed session's stack up and ``synthmon down`` stops all of it.
Processes are real; teardown is checked the way tests/test_interrupts.py does it."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.test_interrupts import alive, listening_ports, port_free

ROOT = Path(__file__).resolve().parents[1]
PROJECT = ROOT / "examples" / "manager-app" / "synthmon.yaml"
SYNTHMON = [sys.executable, "-m", "synthmon.cli"]
READY = "synthmon up: ready"

pytestmark = pytest.mark.selftest


def _pids(run_dir: Path) -> dict[str, int]:
    record = json.loads((run_dir / "pids.json").read_text())
    return {name: int(pid) for name, pid in record["pids"].items()}


def _urls(lines: list[str]) -> dict[str, str]:
    """name -> URL of the printed table (``  name  url``)."""
    found = {}
    for line in lines:
        match = re.match(r"^  (\S.*?)\s{2,}(\S+)", line)
        if match:
            found[match[1]] = match[2]
    return found


def _assert_all_gone(pids: dict[str, int], ports: set[int], run_dir: Path) -> None:
    deadline = time.monotonic() + 10
    while any(alive(p) for p in pids.values()) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = {name: pid for name, pid in pids.items() if alive(pid)}
    assert not left, f"services still running: {left}"
    taken = sorted(p for p in ports if not port_free(p))
    assert not taken, f"ports still taken: {taken}"
    assert not (run_dir / "pids.json").exists() and not (run_dir / "data").exists()


def _kill_left(pids: dict[str, int]) -> None:
    for pid in pids.values():
        if alive(pid):
            os.killpg(pid, signal.SIGKILL)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_up_prints_every_url_and_tears_down(traversable_tmp: Path, signum: signal.Signals) -> None:
    argv = [*SYNTHMON, "up", "--project", str(PROJECT), "--stack", "processes",
            "--run-dir", str(traversable_tmp)]  # fmt: skip
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)  # fmt: skip
    lines: list[str] = []
    pids: dict[str, int] = {}
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 120
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith(READY) or time.monotonic() > deadline:
                break
        assert lines and lines[-1].startswith(READY), "\n".join(lines)
        urls = _urls(lines)
        run_dir = Path(urls["run directory"])
        pids = _pids(run_dir)
        expected = {"app (service under test)", "postgres", "redis", "github", "prometheus",
                    "alertmanager", "pushgateway", "sinks inbox"}  # fmt: skip
        assert expected <= set(urls), lines
        assert httpx.get(urls["app (service under test)"] + "/health").status_code == 200
        assert httpx.get(urls["prometheus"] + "/-/ready").status_code == 200
        inbox = httpx.get(urls["sinks inbox"])
        assert inbox.status_code == 200 and "<h1>synthmon sinks: inbox</h1>" in inbox.text
        assert "inbox" in httpx.get(urls["sinks inbox"].replace(".html", "")).json()
        record = json.loads((run_dir / "stack.json").read_text())
        assert record["app_url"] == urls["app (service under test)"]
        ports = listening_ports(pids)
        assert ports
        proc.send_signal(signum)
        rest, _ = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
        _kill_left(pids)
    assert proc.returncode == 0, rest
    assert "synthmon up: stopped" in rest
    _assert_all_gone(pids, ports, run_dir)
    assert not (run_dir / "stack.json").exists()


def test_up_bad_project_file_is_one_line_exit_4(tmp_path: Path) -> None:
    bad = tmp_path / "synthmon.yaml"
    bad.write_text("name: x\nservices: {}\ntarget: app\nnot_a_key: 1\n")
    done = subprocess.run(
        [*SYNTHMON, "up", "--project", str(bad), "--run-dir", str(tmp_path / "runs")],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 4, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stderr.startswith("synthmon up: error: ")
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())


def test_up_refuses_an_external_stack(tmp_path: Path) -> None:
    done = subprocess.run(
        [*SYNTHMON, "up", "--project", str(PROJECT), "--stack", "external"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 4 and "synthmon up: error:" in done.stderr


FAILING = """
def test_fails_on_purpose(stack, http):
    assert http.get(stack.app_url + "/health").status_code == 200
    assert False, "deliberately failing"
"""


def test_keep_stack_leaves_a_failed_sessions_stack_up(
    traversable_tmp: Path, tmp_path: Path
) -> None:
    (tmp_path / "test_failing.py").write_text(FAILING)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "test_failing.py", "-p", "no:cacheprovider",
         "--project", str(PROJECT), "--stack", "processes", "--keep-stack",
         "--run-dir", str(traversable_tmp)],
        cwd=tmp_path, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    out = done.stdout
    assert done.returncode == 1, out[-3000:]
    match = re.search(r"^stop it: (synthmon down (\S+))$", out, re.MULTILINE)
    assert match, out[-3000:]
    run_dir = Path(match[2])
    pids = _pids(run_dir)
    try:
        assert pids and all(alive(p) for p in pids.values()), pids
        urls = _urls(out[out.index("stack kept running") :].splitlines())
        assert httpx.get(urls["app (service under test)"] + "/health").status_code == 200
        assert httpx.get(urls["alertmanager"] + "/-/ready").status_code == 200
        ports = listening_ports(pids)
        stop = subprocess.run(
            [*SYNTHMON, *match[1].split()[1:]], capture_output=True, text=True, timeout=120
        )
        assert stop.returncode == 0, stop.stderr
    finally:
        _kill_left(pids)
    _assert_all_gone(pids, ports, run_dir)
