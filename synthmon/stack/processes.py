"""The ``processes`` runner: each Service is a local subprocess in its own process group.

Teardown is the point of this module: every child gets its own session (so a signal reaches
its whole tree), its PID is recorded in ``<run>/pids.json`` so a later run can clean up after a
crash, and :meth:`ProcessRunner.stop_all` always ends with SIGKILL for whatever ignored SIGTERM.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import subprocess
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import psutil

from synthmon.errors import StackError
from synthmon.stack.service import Service

STOP_GRACE_S = 10.0
LOG_TAIL_LINES = 20


@dataclass
class _Running:
    service: Service
    process: subprocess.Popen[bytes]


def _as_user(user: str | None) -> str | None:
    """Run as ``user`` only when we are root (PostgreSQL refuses to run as root)."""
    return user if user is not None and os.geteuid() == 0 else None


class ProcessRunner:
    """Starts, signals and stops Services as local processes under one run directory."""

    kind = "processes"

    def __init__(self, run_dir: Path, startup_timeout: float) -> None:
        self.run_dir = run_dir
        self.startup_timeout = startup_timeout
        self.services: dict[str, Service] = {}
        self._running: dict[str, _Running] = {}
        self.kept = False
        (run_dir / "logs").mkdir(parents=True, exist_ok=True)
        (run_dir / "data").mkdir(parents=True, exist_ok=True)

    # -- paths -------------------------------------------------------------------------------
    def log_path(self, name: str) -> Path:
        return self.run_dir / "logs" / f"{name}.log"

    def data_dir(self, name: str) -> Path:
        return self.run_dir / "data" / name

    def conf_dir(self, name: str) -> Path:
        return self.run_dir / "conf" / name

    def tail(self, name: str, lines: int = LOG_TAIL_LINES) -> str:
        """The last ``lines`` lines of a service's log, for error messages."""
        try:
            with self.log_path(name).open(errors="replace") as log:
                return "".join(deque(log, maxlen=lines))
        except FileNotFoundError:
            return "(no log)"

    def _expand(self, service: Service, text: str) -> str:
        return text.format(data=self.data_dir(service.name), conf=self.conf_dir(service.name))

    # -- lifecycle ---------------------------------------------------------------------------
    def _prepare(self, service: Service) -> None:
        """First start only: write configs, create the data dir, run setup commands."""
        conf, data = self.conf_dir(service.name), self.data_dir(service.name)
        conf.mkdir(parents=True, exist_ok=True)
        for relative, content in service.configs.items():
            target = conf / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
        data.mkdir(parents=True, exist_ok=True)
        user = _as_user(service.user)
        if user:
            entry = pwd.getpwnam(user)
            for path in (data, conf):
                for root, dirs, files in os.walk(path):
                    for item in (root, *(os.path.join(root, n) for n in dirs + files)):
                        os.chown(item, entry.pw_uid, entry.pw_gid)
            data.chmod(0o700)
        for command in service.setup:
            self._run_command(service, command)

    def _run_command(self, service: Service, command: tuple[str, ...]) -> None:
        argv = [self._expand(service, a) for a in command]
        with self.log_path(service.name).open("ab") as log:
            done = subprocess.run(
                argv, stdout=log, stderr=subprocess.STDOUT, user=_as_user(service.user),
                timeout=self.startup_timeout, check=False,
            )  # fmt: skip
        if done.returncode != 0:
            raise StackError(
                f"{service.name}: `{' '.join(argv)}` exited {done.returncode}; "
                f"last log lines:\n{self.tail(service.name)}"
            )

    def start(self, service: Service) -> None:
        """Start ``service`` and wait for its readiness probe (prepare it the first time)."""
        if service.name in self._running:
            raise StackError(f"{service.name}: already running")
        first = service.name not in self.services
        self.services[service.name] = service
        if first:
            self._prepare(service)
        env = {**os.environ, **{k: self._expand(service, v) for k, v in service.env.items()}}
        argv = [self._expand(service, a) for a in service.argv]
        with self.log_path(service.name).open("ab") as log:
            try:
                process = subprocess.Popen(
                    argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    env=env, cwd=self.run_dir, start_new_session=True,
                    user=_as_user(service.user),
                )  # fmt: skip
            except OSError as exc:
                raise StackError(f"{service.name}: cannot run {argv[0]!r}: {exc}") from None
        self._running[service.name] = _Running(service, process)
        self._record_pids()
        self._wait_ready(service, process)
        if first:
            for command in service.after_ready:
                self._run_command(service, command)

    def _wait_ready(self, service: Service, process: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + self.startup_timeout
        seen = "not probed yet"
        while time.monotonic() < deadline:
            if process.poll() is not None:
                self._forget(service.name)
                raise StackError(
                    f"{service.name} exited with code {process.returncode} before it was ready "
                    f"({service.probe.describe()}); last log lines:\n{self.tail(service.name)}"
                )
            result = service.probe.check(timeout=1.0)
            if result is None:
                return
            seen = result
            time.sleep(0.1)
        self.stop(service.name)
        raise StackError(
            f"{service.name} not ready after {self.startup_timeout:g}s: probed "
            f"{service.probe.describe()}, last seen {seen}; last log lines:\n"
            f"{self.tail(service.name)}"
        )

    def is_running(self, name: str) -> bool:
        running = self._running.get(name)
        return running is not None and running.process.poll() is None

    def pid(self, name: str) -> int:
        running = self._running.get(name)
        if running is None:
            raise StackError(f"{name}: not running")
        return running.process.pid

    def signal(self, name: str, signum: int) -> None:
        """Send ``signum`` to the service's process group and every descendant (PostgreSQL's
        backends call setsid() and leave the group: pausing only the postmaster pauses nothing).
        """
        pid = self.pid(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signum)
        with contextlib.suppress(psutil.Error):
            for child in psutil.Process(pid).children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    child.send_signal(signum)

    def restart(self, name: str) -> None:
        self.start(self.services[name])

    def stop(self, name: str, grace: float = STOP_GRACE_S) -> None:
        """SIGTERM the process group, then SIGKILL after ``grace`` seconds; idempotent."""
        running = self._running.get(name)
        if running is None:
            return
        process = running.process
        for signum, wait in ((signal.SIGCONT, 0.0), (signal.SIGTERM, grace), (signal.SIGKILL, 5)):
            try:
                os.killpg(process.pid, signum)
            except ProcessLookupError:
                break
            if wait:
                try:
                    process.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # stragglers left in the group
        process.wait(timeout=5)
        self._forget(name)

    def kill(self, name: str) -> None:
        """SIGKILL at once: a crash, not a shutdown."""
        running = self._running.get(name)
        if running is None:
            return
        self.signal(name, signal.SIGKILL)
        running.process.wait(timeout=5)
        self._forget(name)

    def keep(self) -> None:
        """Leave every service running (``--keep-stack``): stop_all then stops nothing and
        pids.json stays, for ``synthmon down`` (or the next run's stale-run cleanup)."""
        self.kept = True

    def stop_all(self) -> None:
        """Stop every service in reverse start order and delete data dirs; logs stay."""
        if self.kept:
            return
        for name in reversed(list(self._running)):
            self.stop(name)
        shutil.rmtree(self.run_dir / "data", ignore_errors=True)
        shutil.rmtree(self.run_dir / "conf" / "secrets", ignore_errors=True)
        (self.run_dir / "pids.json").unlink(missing_ok=True)

    def _forget(self, name: str) -> None:
        self._running.pop(name, None)
        self._record_pids()

    def _record_pids(self) -> None:
        """Write who is running, so the next run can clean up after a SIGKILLed one."""
        pids = {name: r.process.pid for name, r in self._running.items()}
        record = {"owner": os.getpid(), "pids": pids}
        (self.run_dir / "pids.json").write_text(json.dumps(record))
