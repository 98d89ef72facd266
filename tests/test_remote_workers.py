"""Locust workers on other hosts: master, target, Prometheus and two workers each in a network
namespace of their own (tests/_netns.py), joined by veth in a private /24.

The workers start elsewhere (``synthmon worker --master HOST:PORT``) and join the master,
which waits for them; the requests they report equal the raw delta of the target's request
counter that Prometheus scraped. The self-tests: a worker that never comes gives the one-line
error within the master's deadline and leaves nothing; a plain ``locust --worker`` (no record
shipping) makes the run's counts inexact instead of half of them passing for exact; and the
namespaces (and their processes) of a run killed with SIGKILL are removed by the next run.
Each test builds its own network (~15-20 s for the ones that run Locust).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from synthmon.errors import ConfigError
from synthmon.load import RemoteWorkers, remote_workers
from synthmon.load.process import ProcessGroup
from synthmon.load.remote import SHAPE_LOCUSTFILE, missing_workers, parse_address
from synthmon.settings import Settings
from tests import _netns
from tests._programs import require

ROOT = Path(__file__).resolve().parents[1]
TARGET_PORT, PROM_PORT, MASTER_PORT = 8000, 9090, 5557
HOSTS = {"master": 1, "target": 2, "prom": 3, "worker-a": 4, "worker-b": 5}
PROFILES = """\
profiles:
  remote: {users: 4, spawn_rate: 4, ramp_s: 1, steady_s: 6, target_rps: 24,
           wait: constant_throughput}
"""
LOCUSTFILE = """\
from locust import FastHttpUser, task

from synthmon.load.shape import profile_wait_time


class Reader(FastHttpUser):
    wait_time = profile_wait_time()

    @task
    def root(self):
        self.client.get("/")
"""
PROMETHEUS = """\
global: {scrape_interval: 1s, scrape_timeout: 800ms}
scrape_configs:
  - job_name: target
    static_configs: [{targets: ["%s:%d"]}]
"""


class Hosts:
    """A network of namespaces and the processes started in them; all gone on exit."""

    def __init__(self, net: _netns.Net, group: ProcessGroup, work: Path) -> None:
        self.net, self.group, self.work = net, group, work
        self.env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def start(
        self, role: str, name: str, argv: list[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        log = self.work / f"{name}.log"
        return self.group.spawn(self.net.run(role, argv), log, {**self.env, **(env or {})}, ROOT)

    def url(self, role: str, port: int) -> str:
        return f"http://{self.net.hosts[role]}:{port}"

    def target_and_prometheus(self) -> None:
        self.start(
            "target",
            "target",
            [sys.executable, "tests/_netns_target.py", "0.0.0.0", str(TARGET_PORT)],
        )
        config = self.work / "prometheus.yml"
        config.write_text(PROMETHEUS % (self.net.hosts["target"], TARGET_PORT))
        self.start(
            "prom",
            "prometheus",
            [
                require("prometheus"),
                f"--config.file={config}",
                f"--storage.tsdb.path={self.work / 'tsdb'}",
                f"--web.listen-address=0.0.0.0:{PROM_PORT}",
            ],
        )

    def master(self, expect: int, wait_s: float) -> subprocess.Popen[bytes]:
        (self.work / "profiles.yaml").write_text(PROFILES)
        (self.work / "locustfile.py").write_text(LOCUSTFILE)
        argv = [
            sys.executable,
            "tests/_remote_master.py",
            self.url("target", TARGET_PORT),
            self.url("prom", PROM_PORT),
            str(self.work / "out"),
            str(self.work / "locustfile.py"),
            str(self.work / "profiles.yaml"),
            "remote",
            str(expect),
            f"{self.net.hosts['master']}:{MASTER_PORT}",
            f"{wait_s:g}",
        ]
        with (self.work / "master.out").open("wb") as out:
            return subprocess.Popen(
                self.net.run("master", argv),
                stdout=out,
                stderr=subprocess.PIPE,
                cwd=ROOT,
                env=self.env,
            )

    def plain_worker(self, role: str) -> subprocess.Popen[bytes]:
        """A worker of plain ``locust --worker`` with the shape only: it ships no records."""
        files = f"{SHAPE_LOCUSTFILE},{self.work / 'locustfile.py'}"
        argv = [sys.executable, "-m", "locust", "-f", files, "--worker", "--master-host",
                self.net.hosts["master"], "--master-port", str(MASTER_PORT)]  # fmt: skip
        env = {"SYNTHMON_LOAD_PROFILES": str(self.work / "profiles.yaml")}
        return self.start(role, role, argv, {**env, "SYNTHMON_LOAD_PROFILE": "remote"})

    def worker(self, role: str) -> subprocess.Popen[bytes]:
        argv = [
            sys.executable,
            "-m",
            "synthmon.cli",
            "worker",
            "--master",
            f"{self.net.hosts['master']}:{MASTER_PORT}",
            "--profiles",
            str(self.work / "profiles.yaml"),
            "--profile",
            "remote",
            str(self.work / "locustfile.py"),
        ]
        return self.start(role, role, argv)


@pytest.fixture
def hosts(tmp_path: Path) -> Iterator[Hosts]:
    require("ip", "iproute2 (on every new machine)")
    if os.geteuid() != 0:
        pytest.fail("network namespaces need root (ip netns add)", pytrace=False)
    with _netns.network(HOSTS) as net, ProcessGroup() as group:
        yield Hosts(net, group, tmp_path)
    assert _netns.leftovers(net.prefix) == [], "namespaces or veths left"
    assert not [p for p in group.pids if psutil.pid_exists(p)], "processes left"


def finish(proc: subprocess.Popen[bytes], timeout: float) -> tuple[int, str]:
    try:
        _, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, err.decode(errors="replace").strip()


def test_two_remote_workers_count_what_prometheus_saw(hosts: Hosts) -> None:
    hosts.target_and_prometheus()
    master = hosts.master(expect=2, wait_s=30)
    workers = [hosts.worker("worker-a"), hosts.worker("worker-b")]
    code, err = finish(master, timeout=120)
    assert code == 0, f"{err[-3000:]}\n{(hosts.work / 'out' / 'locust.log').read_text()[-3000:]}"
    doc = json.loads((hosts.work / "master.out").read_text())
    for proc in workers:
        proc.wait(timeout=20)  # the master's quit ends them
    counts = doc["workers"]
    assert len(counts) == 2, counts
    assert all(w["recording"] == "shipped" and w["requests"] > 0 for w in counts.values()), counts
    assert sum(w["requests"] for w in counts.values()) == doc["total_requests"], doc
    assert all(w["shipped"] == w["requests"] for w in counts.values()), counts
    assert doc["before"] is not None, "Prometheus had no sample before the run"
    assert doc["after"] - doc["before"] == doc["total_requests"], doc
    assert doc["total_failures"] == 0 and doc["exact"] and doc["valid"], doc
    window = doc["window"]
    assert window and abs(window["client"] - window["prometheus"]) <= 3, window


def test_a_worker_without_synthmons_records_makes_the_run_inexact(hosts: Hosts) -> None:
    """Exact counts from the records of one worker out of two would be half the truth."""
    hosts.target_and_prometheus()
    master = hosts.master(expect=2, wait_s=30)
    hosts.worker("worker-a")
    hosts.plain_worker("worker-b")
    code, err = finish(master, timeout=120)
    assert code == 0, err[-3000:]
    doc = json.loads((hosts.work / "master.out").read_text())
    modes = sorted(w["recording"] for w in doc["workers"].values())
    assert modes == ["none", "shipped"], doc["workers"]
    assert not doc["exact"], "records of one worker must not pass for exact counts"
    assert doc["after"] - doc["before"] == doc["total_requests"], doc


def test_a_worker_that_never_comes_is_one_line_within_the_deadline(hosts: Hosts) -> None:
    hosts.target_and_prometheus()
    master = hosts.master(expect=2, wait_s=4)
    hosts.worker("worker-a")  # worker-b never starts
    code, err = finish(master, timeout=60)
    address = f"{hosts.net.hosts['master']}:{MASTER_PORT}"
    assert code == 3, err[-2000:]
    assert err.splitlines()[-1].startswith(f"1 of 2 Locust workers joined {address} within 4 s"), (
        err
    )
    after = json.loads((hosts.work / "master.out").read_text())["missing_after_s"]
    assert 4 <= after < 4 + 5, f"the master gave up after {after:.1f} s (deadline 4 s)"


def test_a_killed_runs_namespaces_are_removed_by_the_next(tmp_path: Path) -> None:
    owner = (
        "import sys, subprocess, time; from tests import _netns; "
        "net = _netns.create({'a': 1, 'b': 2}); "
        "p = subprocess.Popen(net.run('a', ['sleep', '300'])); "
        "print(net.prefix, p.pid, flush=True); time.sleep(300)"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", owner],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert proc.stdout is not None
        prefix, pid = proc.stdout.readline().decode().split()
        assert len(_netns.leftovers(prefix)) == 3  # a, b and the bridge's
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        assert psutil.pid_exists(int(pid)), "the killed owner's process in its namespace lives on"
        assert prefix in _netns.sweep_stale()
        assert _netns.leftovers(prefix) == []
        deadline = time.monotonic() + 10
        while (
            psutil.pid_exists(int(pid))
            and psutil.Process(int(pid)).status() != psutil.STATUS_ZOMBIE
        ):
            assert time.monotonic() < deadline, f"pid {pid} still runs"
            time.sleep(0.1)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_bad_remote_worker_settings_are_one_line() -> None:
    with pytest.raises(
        ConfigError, match=r"^--master: expected HOST:PORT like 10.0.0.5:5557, got 'x'$"
    ):
        parse_address("x", "--master")
    assert parse_address("[::1]:6000", "m") == ("::1", 6000)
    with pytest.raises(ConfigError, match="expected a count ≥ 1, got 0"):
        RemoteWorkers(0)
    with pytest.raises(ConfigError, match=r"expected a port 1\.\.65535, got 70000"):
        RemoteWorkers(1, bind_port=70000)
    log = "x/INFO/locust.runners: vm_1 (index 0) reported as ready. 1 workers connected.\n"
    assert missing_workers(log, 3, "h:1", 5) is None  # did not give up
    line = missing_workers(log * 2 + "Gave up waiting for workers to connect\n", 3, "h:1", 5)
    assert line == "1 of 3 Locust workers joined h:1 within 5 s"


def test_synthmon_worker_bad_master_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "locustfile.py").write_text(LOCUSTFILE)
    done = subprocess.run(
        [sys.executable, "-m", "synthmon.cli", "worker", "--master", "nohost",
         str(tmp_path / "locustfile.py")],
        cwd=ROOT, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "synthmon worker: error: --master: expected HOST:PORT like 10.0.0.5:5557, got 'nohost'"
    )


def test_settings_ask_for_remote_workers_from_env() -> None:
    env = {"SYNTHMON_LOAD_REMOTE_WORKERS": "2", "SYNTHMON_LOAD_MASTER_BIND": "10.200.0.1:6000",
           "SYNTHMON_LOAD_WORKERS_WAIT": "45s"}  # fmt: skip
    assert remote_workers(Settings.from_values(lambda _: None, env)) == RemoteWorkers(
        2, "10.200.0.1", 6000, 45.0
    )
    assert remote_workers(Settings.from_values(lambda _: None, {})) is None
    with pytest.raises(ConfigError, match=r"^SYNTHMON_LOAD_MASTER_BIND: expected HOST:PORT"):
        Settings.from_values(lambda _: None, {"SYNTHMON_LOAD_MASTER_BIND": "10.0.0.1"})
    with pytest.raises(ConfigError, match=r"^SYNTHMON_LOAD_REMOTE_WORKERS: expected a whole"):
        Settings.from_values(lambda _: None, {"SYNTHMON_LOAD_REMOTE_WORKERS": "two"})
