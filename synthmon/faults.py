"""Fault injection for the runbook's scenarios; every fault is a context manager that restores.

A check that fails half-way still leaves the stack as it found it: the restore runs in
``finally``, and :class:`Faults` itself undoes whatever a check forgot when it closes.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx
from prometheus_client.parser import text_string_to_metric_families

from synthmon.errors import ConfigError, StackError
from synthmon.project import (
    FaultSpec,
    HttpCall,
    HttpFault,
    LinkFault,
    PushFault,
    ServiceFault,
    TrafficFault,
    UpstreamFault,
)
from synthmon.stack import Stack
from synthmon.stack.processes import ProcessRunner

MAX_TRAFFIC_S = 600.0
RELOAD_TIMEOUT_S = 15.0
UPSTREAM_CONTROL = "/_fake"  # the fake upstream's control API (synthmon.upstream)
UPSTREAM_RESET = f"{UPSTREAM_CONTROL}/reset"
_PLACEHOLDER = re.compile(r"\$\$|\$\{(secret|env):(\w+)\}|\$\{now\}")
RELOAD_METRICS = {
    "prometheus": "prometheus_config_last_reload",
    "alertmanager": "alertmanager_config_last_reload",
}


def link_proxy_name(source: str, to: str) -> str:
    """The fault proxy's name for the link from ``source`` to its dependency ``to``."""
    return f"{source}-{to}"


def _scalar_metrics(text: str) -> dict[str, float]:
    """Unlabelled samples of a /metrics page, by name."""
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if not sample.labels
    }


def expand(text: str, secrets: Mapping[str, str], now: bool = False) -> str:
    """A fault's ``${secret:NAME}``, ``${env:VAR}`` (and with ``now``, ``${now}``) filled."""

    def one(match: re.Match[str]) -> str:
        kind, name = match.groups()
        if match.group(0) == "$$":
            return "$"
        if kind is None:
            if not now:
                raise ConfigError(f"fault: ${{now}} is only for pushed metrics, in {text!r:.80}")
            return repr(time.time())
        table = secrets if kind == "secret" else os.environ
        if name not in table:
            raise ConfigError(f"fault: ${{{kind}:{name}}} is not set")
        return table[name]

    return _PLACEHOLDER.sub(one, text)


def _expand_json(value: Any, secrets: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return expand(value, secrets)
    if isinstance(value, list):
        return [_expand_json(v, secrets) for v in value]
    if isinstance(value, dict):
        return {k: _expand_json(v, secrets) for k, v in value.items()}
    return value


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

    # -- the project's scenarios: faults as data ------------------------------------------------
    def apply(self, spec: FaultSpec) -> AbstractContextManager[object]:
        """The fault ``spec`` (a scenario's, from the project file), undone when it ends."""
        if isinstance(spec, ServiceFault):
            action = {"stop": self.stopped, "kill": self.killed, "pause": self.paused}
            return action[spec.action](spec.service)
        if isinstance(spec, TrafficFault):
            call = self._expanded(spec.request)
            url = self._url(spec.service, call.path)
            return self.traffic(
                lambda c: c.request(call.method, url, json=call.json, headers=dict(call.headers)),
                spec.per_second,
            )
        if isinstance(spec, HttpFault):
            return self.http_fault(spec)
        if isinstance(spec, PushFault):
            metrics = expand(spec.metrics, self.stack.secrets, now=True)
            return self.pushed(metrics, spec.job, spec.instance)
        if isinstance(spec, LinkFault):
            return self.link(spec)
        return self.upstream(spec)

    @contextlib.contextmanager
    def applied(self, specs: Iterable[FaultSpec]) -> Iterator[None]:
        """Several faults together (a scenario's), undone newest first."""
        with contextlib.ExitStack() as held:
            for spec in specs:
                held.enter_context(self.apply(spec))
            yield

    def _url(self, service: str, path: str) -> str:
        if service not in self.stack.urls:
            raise StackError(f"fault: no service {service!r} (have: {', '.join(self.stack.urls)})")
        return self.stack.urls[service].rstrip("/") + path

    def _expanded(self, call: HttpCall) -> HttpCall:
        secrets = self.stack.secrets
        return HttpCall(
            call.method,
            expand(call.path, secrets),
            _expand_json(call.json, secrets),
            {k: expand(v, secrets) for k, v in call.headers.items()},
        )

    def _send(self, service: str, call: HttpCall) -> None:
        call = self._expanded(call)
        url = self._url(service, call.path)
        response = self.http.request(call.method, url, json=call.json, headers=dict(call.headers))
        if response.status_code >= 300:
            raise StackError(
                f"fault {call.method} {url}: HTTP {response.status_code}: {response.text:.300}"
            )

    @contextlib.contextmanager
    def http_fault(self, spec: HttpFault) -> Iterator[None]:
        """A service's own fault endpoint called; its ``undo`` called afterwards."""
        self._send(spec.service, spec.call)
        undo = spec.undo
        with self.restoring(lambda: None if undo is None else self._send(spec.service, undo)):
            yield

    @contextlib.contextmanager
    def upstream(self, spec: UpstreamFault) -> Iterator[None]:
        """The fake upstream's route ``spec.route`` (status, delay) and quota (remaining) set
        through its control API, all reset after: the contract of synthmon.upstream."""
        route = {
            key: value
            for key, value in (("status", spec.status), ("delay_ms", spec.delay_ms))
            if value is not None
        }
        with self.restoring(lambda: self._send(spec.service, HttpCall("POST", UPSTREAM_RESET))):
            if route:
                path = f"{UPSTREAM_CONTROL}/routes/{quote(spec.route, safe='*')}"
                self._send(spec.service, HttpCall("PUT", path, route))
            if spec.remaining is not None:
                quota = HttpCall("PUT", f"{UPSTREAM_CONTROL}/quota", {"remaining": spec.remaining})
                self._send(spec.service, quota)
            yield

    @contextlib.contextmanager
    def link(self, spec: LinkFault) -> Iterator[None]:
        """A toxic on the fault proxy's ``<from>-<to>`` link (``down``: the link disabled),
        removed after; neither service is touched."""
        from synthmon.faultproxy import ToxiproxyClient

        source = spec.source or (self.stack.project.target if self.stack.project else "")
        compose = self.stack.project.compose if self.stack.project else None
        # the stack's own Toxiproxy (compose.toxiproxy): the proxy the project names there
        own = self.stack.kind == "compose" and compose is not None and compose.toxiproxy is not None
        proxy = spec.proxy if own and spec.proxy else link_proxy_name(source, spec.to)
        url = self.stack.fault_proxy_url
        where = f"fault link {source} -> {spec.to}: this {self.stack.kind} stack"
        if url is None:
            raise StackError(
                f"{where} has no fault proxy (a stack proxies the links its project's "
                "scenarios name)"
            )
        client = ToxiproxyClient(url)
        have = client.proxies()
        if proxy not in have:
            client.close()
            raise StackError(
                f"{where}'s fault proxy has no proxy {proxy!r} (have: {', '.join(have) or 'none'})"
            )
        attributes = {k: int(v) for k, v in spec.attributes.items()}
        with contextlib.ExitStack() as held:
            held.callback(client.close)
            if spec.toxic == "down":
                held.enter_context(client.disabled(proxy))
            else:
                toxic = client.toxic(proxy, spec.toxic, spec.stream, spec.toxicity, **attributes)
                held.enter_context(toxic)
            with self.restoring(held.close):
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
