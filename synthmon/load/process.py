"""Child processes in one process group, so a single ``killpg`` tears every one of them down.

The first child gets a new process group (``process_group=0``; like ``start_new_session`` but
in our session, which later children must share to join the group); the rest join it. Leaving
the ``with`` block — normally, on an exception or on KeyboardInterrupt — sends SIGTERM to the
group, waits a bounded grace period, then SIGKILLs whatever is left and reaps every child.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType


class ProcessGroup:
    """Spawns children into one group and guarantees their end."""

    def __init__(self, grace_s: float = 5.0) -> None:
        self.grace_s = grace_s
        self.pgid: int | None = None
        self.procs: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> ProcessGroup:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.terminate()

    @property
    def pids(self) -> tuple[int, ...]:
        return tuple(p.pid for p in self.procs)

    def spawn(
        self, argv: list[str], log_path: Path, env: Mapping[str, str], cwd: Path | str
    ) -> subprocess.Popen[bytes]:
        """Start ``argv`` with stdout and stderr in ``log_path`` (a file: pipes could fill)."""
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(env),
                cwd=str(cwd),
                process_group=0 if self.pgid is None else self.pgid,
            )
        if self.pgid is None:
            self.pgid = proc.pid
        self.procs.append(proc)
        return proc

    def wait_all(self, deadline: float) -> bool:
        """Wait (until the monotonic ``deadline``) for every child; True if all exited."""
        for proc in self.procs:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return all(p.poll() is not None for p in self.procs)
            try:
                proc.wait(timeout=remaining)
            except subprocess.TimeoutExpired:
                return False
        return True

    def terminate(self) -> None:
        """SIGTERM the group, then SIGKILL after ``grace_s``; reap every child."""
        if self.pgid is None:
            return
        if any(p.poll() is None for p in self.procs):
            # Signal only while a child of ours is unreaped: the group id cannot be reused yet.
            self._signal(signal.SIGTERM)
            if not self.wait_all(time.monotonic() + self.grace_s):
                self._signal(signal.SIGKILL)
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):  # SIGKILL cannot be ignored
                proc.wait(timeout=self.grace_s)

    def _signal(self, sig: signal.Signals) -> None:
        assert self.pgid is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pgid, sig)
