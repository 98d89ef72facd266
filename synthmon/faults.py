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
    def _active(self, undo: Callable[[], None]) -> Iterator[None]:
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
        with self._active(lambda: self._ensure_running(name)):
            yield

    @contextlib.contextmanager
    def killed(self, name: str) -> Iterator[None]:
        """``name`` crashed (SIGKILL); restarted and ready again afterwards."""
        self.runner.kill(name)
        with self._active(lambda: self._ensure_running(name)):
            yield

    @contextlib.contextmanager
    def paused(self, name: str) -> Iterator[None]:
        """``name`` frozen (SIGSTOP): alive but unresponsive; resumed afterwards."""
        self.runner.signal(name, signal.SIGSTOP)
        with self._active(lambda: self.runner.signal(name, signal.SIGCONT)):
            yield

    # -- configuration -----------------------------------------------------------------------
    @contextlib.contextmanager
    def reconfigured(self, name: str, relative: str, edit: Callable[[str], str]) -> Iterator[None]:
        """``name``'s rendered config file ``relative`` changed by ``edit`` and hot-reloaded
        (SIGHUP), as config drift in production would be; the original is reloaded after."""
        path = self.runner.conf_dir(name) / relative
        original = path.read_text()
        self._reload(name, path, edit(original))
        with self._active(lambda: self._reload(name, path, original)):
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

    # -- the app and its upstream ----------------------------------------------------------
    def _chaos_call(self, method: str, body: dict[str, Any] | None = None) -> None:
        response = self.http.request(
            method,
            f"{self.stack.app_url}/api/chaos",
            json=body,
            headers={"X-Chaos-Token": self.stack.chaos_token or ""},
        )
        if response.status_code >= 300:
            raise StackError(f"app chaos {method}: HTTP {response.status_code}: {response.text}")

    @contextlib.contextmanager
    def chaos(self, endpoint: str = "*", **settings: float) -> Iterator[None]:
        """App chaos on ``endpoint``: error_rate, latency_ms, latency_fraction, cpu_burn, …"""
        self._chaos_call("PUT", {"endpoint": endpoint, **settings})
        with self._active(lambda: self._chaos_call("DELETE")):
            yield

    @contextlib.contextmanager
    def github_quota(self, remaining: int) -> Iterator[None]:
        """The fake GitHub's remaining rate-limit quota set to ``remaining``."""
        url = f"{self.stack.github_url}/_fake/rate_limit"
        before = self.http.get(f"{self.stack.github_url}/_fake/state").json()
        previous = before.get("remaining", before.get("core", {}).get("remaining"))
        self.http.put(url, json={"remaining": remaining}).raise_for_status()

        def restore() -> None:
            self.http.put(url, json={"remaining": previous}).raise_for_status()

        with self._active(restore):
            yield

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

        with self._active(delete):
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

        with self._active(halt):
            yield

    def failed_logins(self, per_second: float, max_seconds: float = MAX_TRAFFIC_S) -> Any:
        """A brute-force burst: wrong passwords for user ``demo`` (runbook: security alerts)."""
        url = f"{self.stack.app_url}/api/login"
        body = {"username": "demo", "password": "not-the-password"}
        return self.traffic(lambda c: c.post(url, json=body), per_second, max_seconds)
