"""Fault injection for the runbook's scenarios; every fault is a context manager that restores.

A check that fails half-way still leaves the stack as it found it: the restore runs in
``finally``, and :class:`Faults` itself undoes whatever a check forgot when it closes.
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from synthmon.errors import StackError
from synthmon.stack import Stack
from synthmon.stack.processes import ProcessRunner

MAX_TRAFFIC_S = 600.0
RELOAD_TIMEOUT_S = 15.0
RELOAD_METRICS = {
    "prometheus": "prometheus_config_last_reload",
    "alertmanager": "alertmanager_config_last_reload",
}


def _scalar_metrics(text: str) -> dict[str, float]:
    """Unlabelled samples of a /metrics page, by name."""
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if not sample.labels
    }


class Faults:
    """Break one part of a running stack at a time, and put it back."""

    def __init__(self, stack: Stack, timeout: float = 5.0) -> None:
        if stack.runner is None:
            raise StackError(f"{stack.kind} stack: faults need a stack synthmon controls")
        self.stack = stack
        self.runner: ProcessRunner = stack.runner
        self.http = httpx.Client(timeout=timeout)
        self._undo: list[Callable[[], None]] = []

    def __enter__(self) -> Faults:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Undo every fault still active (newest first), then release the HTTP client."""
        while self._undo:
            self._undo.pop()()
        self.http.close()

    @contextlib.contextmanager
    def restoring(self, undo: Callable[[], None]) -> Iterator[None]:
        """Run the block with ``undo`` pending: called when it ends, or by :meth:`close`."""
        self._undo.append(undo)
        try:
            yield
        finally:
            if undo in self._undo:
                self._undo.remove(undo)
                undo()

    def _ensure_running(self, name: str) -> None:
        if not self.runner.is_running(name):
            self.runner.restart(name)

    # -- processes -------------------------------------------------------------------------
    @contextlib.contextmanager
    def stopped(self, name: str) -> Iterator[None]:
        """``name`` shut down cleanly (SIGTERM); restarted and ready again afterwards."""
        self.runner.stop(name)
        with self.restoring(lambda: self._ensure_running(name)):
            yield

    @contextlib.contextmanager
    def killed(self, name: str) -> Iterator[None]:
        """``name`` crashed (SIGKILL); restarted and ready again afterwards."""
        self.runner.kill(name)
        with self.restoring(lambda: self._ensure_running(name)):
            yield

    @contextlib.contextmanager
    def paused(self, name: str) -> Iterator[None]:
        """``name`` frozen (SIGSTOP): alive but unresponsive; resumed afterwards."""
        self.runner.signal(name, signal.SIGSTOP)
        with self.restoring(lambda: self.runner.signal(name, signal.SIGCONT)):
            yield

    # -- configuration -----------------------------------------------------------------------
    @contextlib.contextmanager
    def reconfigured(self, name: str, relative: str, edit: Callable[[str], str]) -> Iterator[None]:
        """``name``'s rendered config file ``relative`` changed by ``edit`` and hot-reloaded
        (SIGHUP), as config drift in production would be; the original is reloaded after."""
        path = self.runner.conf_dir(name) / relative
        original = path.read_text()
        self._reload(name, path, edit(original))
        with self.restoring(lambda: self._reload(name, path, original)):
            yield

    def _reload(self, name: str, path: Path, text: str) -> None:
        metric = RELOAD_METRICS[name]
        base = {
            "prometheus": self.stack.prometheus_url,
            "alertmanager": self.stack.alertmanager_url,
        }
        url = f"{base[name]}/metrics"
        signalled = math.floor(time.time())
        path.write_text(text)
        self.runner.signal(name, signal.SIGHUP)
        deadline = time.monotonic() + RELOAD_TIMEOUT_S
        while time.monotonic() < deadline:
            values = _scalar_metrics(self.http.get(url).text)
            if (
                values.get(f"{metric}_successful") == 1
                and values.get(f"{metric}_success_timestamp_seconds", 0) >= signalled
            ):
                return
            time.sleep(0.2)
        raise StackError(
            f"{name}: config {path} not reloaded within {RELOAD_TIMEOUT_S:g}s; last log lines:\n"
            f"{self.runner.tail(name)}"
        )

    # -- the project's own faults -------------------------------------------------------------
    def project_fault(self, name: str, **kwargs: Any) -> AbstractContextManager[object]:
        """The project's fault ``name`` (e.g. its app's chaos controls, a fake upstream's
        quota), called with this injector and ``kwargs``."""
        if self.stack.project is None:
            raise StackError(f"{self.stack.kind} stack: no project, so no fault {name!r}")
        return self.stack.project.fault(name)(self, **kwargs)

    @contextlib.contextmanager
    def pushed(self, metrics: str, job: str, instance: str) -> Iterator[None]:
        """``metrics`` (text format) pushed to the stack's Pushgateway as group job/instance,
        as a synthetic run would; the group is deleted afterwards."""
        if self.stack.pushgateway_url is None:
            raise StackError(f"{self.stack.kind} stack: no Pushgateway to push to")
        group = f"{self.stack.pushgateway_url}/metrics/job/{job}/instance/{instance}"
        self.http.put(group, content=metrics.encode()).raise_for_status()

        def delete() -> None:
            self.http.delete(group).raise_for_status()

        with self.restoring(delete):
            yield

    @contextlib.contextmanager
    def traffic(
        self,
        request: Callable[[httpx.Client], object],
        per_second: float,
        max_seconds: float = MAX_TRAFFIC_S,
    ) -> Iterator[None]:
        """Call ``request`` ``per_second`` times a second in the background (bounded in time)."""
        stop = threading.Event()

        def loop() -> None:
            with httpx.Client(timeout=self.http.timeout) as client:
                deadline = time.monotonic() + max_seconds
                while not stop.is_set() and time.monotonic() < deadline:
                    with contextlib.suppress(httpx.HTTPError):
                        request(client)
                    stop.wait(1.0 / per_second)

        worker = threading.Thread(target=loop, name="synthmon-traffic", daemon=True)
        worker.start()

        def halt() -> None:
            stop.set()
            worker.join(timeout=10)

        with self.restoring(halt):
            yield
