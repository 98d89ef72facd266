"""The reference example's capacity with its app confined to about half a core (prints
figures, asserts nothing).

    .venv/bin/python bench/capacity.py [--runs 3] [--quota 0.5] [--profile capacity]

Each run is ``pytest load/test_capacity.py --load-profile capacity`` on a fresh stack (the
``processes`` runner): as soon as the app's process appears it is moved into a cgroup with
a CPU quota of ``--quota`` cores (cgroup v2 ``cpu.max`` when /sys/fs/cgroup has the cpu
controller, else the v1 ``cpu`` hierarchy's ``cpu.cfs_quota_us``; not taskset: PostgreSQL,
Locust and Prometheus would fight over the other core). The first run also sets
SYNTHMON_CAPACITY_ACCEPTANCE=1: fixed-rate gates at 0.8 x the knee's low end (must pass) and
1.25 x its high end (must fail). Prints each knee, the median and spread, the wall time of
each search and the acceptance verdicts. The fake GitHub's quota is kept full (it would run
out within a search, and the rest would measure 502s, not CPU). Needs root (cgroups).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from synthmon.errors import SynthmonError
from synthmon.upstream import UpstreamClient

ROOT = Path(__file__).resolve().parents[1]
PERIOD_US = 100_000
QUOTA = 5000  # the fake GitHub's quota (upstreams/github.yaml), refilled every 0.5 s


class Confinement:
    """A CPU-quota cgroup of our own; removed (its processes moved back out) on exit."""

    def __init__(self, quota: float) -> None:
        v2 = Path("/sys/fs/cgroup")
        controllers = v2 / "cgroup.controllers"
        name = f"synthmon-bench-capacity-{os.getpid()}"
        if controllers.is_file() and "cpu" in controllers.read_text().split():
            self.root, self.version = v2, 2
        else:
            self.root, self.version = Path("/sys/fs/cgroup/cpu"), 1
        self.path = self.root / name
        self.path.mkdir()
        limit = int(quota * PERIOD_US)
        if self.version == 2:
            (self.path / "cpu.max").write_text(f"{limit} {PERIOD_US}\n")
        else:
            (self.path / "cpu.cfs_period_us").write_text(f"{PERIOD_US}\n")
            (self.path / "cpu.cfs_quota_us").write_text(f"{limit}\n")

    def describe(self) -> str:
        return f"cgroup v{self.version} {self.path}"

    def add(self, pid: int) -> None:
        (self.path / "cgroup.procs").write_text(f"{pid}\n")

    def remove(self) -> None:
        for pid in (self.path / "cgroup.procs").read_text().split():
            with contextlib.suppress(OSError):  # exited meanwhile
                (self.root / "cgroup.procs").write_text(f"{pid}\n")
        self.path.rmdir()


def _is_app(proc: psutil.Process) -> bool:
    try:
        cmd = proc.cmdline()
    except psutil.Error:
        return False
    return cmd[1:3] == ["-m", "app"]


def _upstream_url(proc: psutil.Process) -> str | None:
    """The base URL of a synthmon fake upstream process (``-m synthmon.upstream --port P``)."""
    try:
        cmd = proc.cmdline()
    except psutil.Error:
        return None
    if "synthmon.upstream" not in cmd or "--port" not in cmd:
        return None
    return f"http://127.0.0.1:{cmd[cmd.index('--port') + 1]}"


def confine_app(session: subprocess.Popen[str], group: Confinement, done: threading.Event) -> None:
    """Move every app process under ``session`` into ``group`` as it appears, and keep the
    fake GitHub's quota full: its 5000 requests an hour would otherwise run out within a
    search, and every step after it would measure the quota (502s), not the CPU."""
    moved: set[int] = set()
    while not done.wait(0.5):
        try:
            children = psutil.Process(session.pid).children(recursive=True)
        except psutil.Error:
            return
        for child in children:
            if child.pid not in moved and _is_app(child):
                group.add(child.pid)
                moved.add(child.pid)
                print(f"  app pid {child.pid} confined ({group.describe()})", flush=True)
            url = _upstream_url(child)
            if url is not None:
                with contextlib.suppress(SynthmonError):
                    UpstreamClient(url, timeout=2.0).set_quota(remaining=QUOTA)


def one_search(profile: str, quota: float, acceptance: bool) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="synthmon-bench-capacity-") as base:
        Path(base).chmod(0o755)
        argv = [sys.executable, "-m", "pytest", "load/test_capacity.py", "--load-profile", profile,
                "-p", "no:cacheprovider", "--run-dir", base, "-q"]  # fmt: skip
        env = {**os.environ, "SYNTHMON_CAPACITY_ACCEPTANCE": "1" if acceptance else "0"}
        group = Confinement(quota)
        done = threading.Event()
        started = time.monotonic()
        try:
            session = subprocess.Popen(
                argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                text=True,
            )  # fmt: skip
            watcher = threading.Thread(target=confine_app, args=(session, group, done))
            watcher.start()
            try:
                output, _ = session.communicate()
            finally:
                done.set()
                watcher.join()
                if session.poll() is None:  # we were interrupted: the session tears down
                    session.terminate()  # its stack on SIGTERM (synthmon.stack)
                    session.wait(timeout=120)
        finally:
            group.remove()
        seconds = time.monotonic() - started
        found = sorted(Path(base).glob(f"*/capacity/{profile}/capacity.json"))
        accept = sorted(Path(base).glob(f"*/capacity/{profile}/acceptance.json"))
        doc: dict[str, object] = {
            "exit": session.returncode,
            "session_s": seconds,
            "tail": output.strip().splitlines()[-1] if output.strip() else "",
        }
        if found:
            doc["capacity"] = json.loads(found[0].read_text())
        if accept:
            doc["acceptance"] = json.loads(accept[0].read_text())
        if session.returncode not in (0, 1):
            doc["output"] = output[-3000:]
        return doc


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")  # the finally blocks remove the cgroup


def main() -> None:
    signal.signal(signal.SIGTERM, _interrupted)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quota", type=float, default=0.5, help="CPU cores for the app")
    parser.add_argument("--profile", default="capacity")
    args = parser.parse_args()
    if os.geteuid() != 0:
        parser.error("needs root: it creates a cgroup")
    print(f"{os.cpu_count()} CPUs; app confined to {args.quota:g} core; profile {args.profile}")
    knees: list[float] = []
    for i in range(1, args.runs + 1):
        doc = one_search(args.profile, args.quota, acceptance=i == 1)
        cap = doc.get("capacity")
        if not isinstance(cap, dict):
            print(f"run {i}: no search result (pytest exit {doc['exit']}): {doc['tail']}")
            print(doc.get("output", ""))
            continue
        knee = cap["knee"]
        steps = cap["steps"]
        print(f"run {i}: knee {knee} in {cap['wall_s']:.0f} s search ({len(steps)} steps; "
              f"session {doc['session_s']:.0f} s; pytest exit {doc['exit']})")  # fmt: skip
        for s in steps:
            print(f"    {s['phase']:6} offered {s['offered_rps']:6.1f} achieved "
                  f"{s['achieved_rps']:6.1f} n={s['requests']:5} {s['outcome']:15} "
                  f"{s['failed_objective'] or '':14} gen cpu {s['generator_demand'] or 0:.2f} "
                  f"overhead {s['overhead_s']:.1f} s")  # fmt: skip
        if "acceptance" in doc:
            print(f"  acceptance: {doc['acceptance']}")
        if knee["low"] is not None and knee["high"] is not None and not knee["at_least"]:
            knees.append((knee["low"] * knee["high"]) ** 0.5)
    if knees:
        spread = (max(knees) - min(knees)) / statistics.median(knees)
        print(f"knee (geometric middle of each interval): {', '.join(f'{k:.1f}' for k in knees)}"
              f" req/s; median {statistics.median(knees):.1f}, spread {spread:.1%} "
              "(max - min over median)")  # fmt: skip


if __name__ == "__main__":
    main()
