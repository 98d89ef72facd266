"""A latency scenario's trace investigation, live: fetch, attribute, attach, judge.

The runbook's HighResponseTime step, "review traces in Jaeger", as a check: while the fault
holds and the alert fires, the endpoint's traces since the fault are fetched from the trace
store (waiting, within the telemetry delay, until there are enough), the slowest are attributed
(:mod:`synthmon.traces.attribution`) against the endpoint's traces before the fault, and the
scenario fails unless the expected span carries the added latency.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Protocol

import httpx

from synthmon import evidence, progress
from synthmon.errors import ConfigError, WaitTimeout
from synthmon.stack import Stack
from synthmon.traces.attribution import Attribution, Investigation, attribute
from synthmon.traces.jaeger import JaegerClient
from synthmon.traces.model import Trace
from synthmon.waiting import NotYet, wait_until

FETCHED = 100  # the endpoint's most recent traces fetched per search; the slowest are judged
MARGIN_S = 10.0  # on top of the store's delay: a search, a batch in flight
# The scenario's traffic alone before a fault whose traces it investigates: the endpoint's
# healthy spans, what the slow traces' spans are compared with.
BASELINE_S = 3.0


class TraceStore(Protocol):
    """What the investigation needs of a trace store (:class:`JaegerClient`; tests: a stand-in)."""

    def find(
        self, service: str, operation: str | None = None, *, start: datetime, end: datetime,
        limit: int = 20,
    ) -> list[Trace]: ...  # fmt: skip


def _at(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def fetch(store: TraceStore, service: str, endpoint: str, start: float, end: float) -> list[Trace]:
    """The endpoint's traces in [start, end] (epoch seconds)."""
    return store.find(service, endpoint, start=_at(start), end=_at(end), limit=FETCHED)


def investigate_traces(
    store: TraceStore,
    service: str,
    investigation: Investigation,
    *,
    since: float,
    baseline: tuple[float, float] | None,
    delay_s: float,
) -> Attribution:
    """Wait (``delay_s`` + a margin) until the store holds ``investigation.traces`` traces of
    the endpoint since ``since`` (the fault), then attribute them against ``baseline`` (a
    window before the fault); a wait that expires fails saying what was searched."""
    endpoint, wanted = investigation.endpoint, investigation.traces
    what = f"{wanted} traces of {service} {endpoint!r} since the fault in the trace store"

    def enough() -> list[Trace] | NotYet:
        found = fetch(store, service, endpoint, since, time.time())
        if len(found) >= wanted:
            return found
        return NotYet(f"{len(found)} found")

    timeout = delay_s + MARGIN_S
    progress.waiting(what, timeout)
    try:
        slow = wait_until(enough, timeout_s=timeout, interval_s=1.0, what=what)
    except WaitTimeout as exc:
        raise AssertionError(
            f"{endpoint}: the traces cannot show where the time went: {exc} (searched service "
            f"{service!r}, operation {endpoint!r}, from {_at(since):%H:%M:%S})"
        ) from None
    before: Sequence[Trace] = ()
    if baseline is not None:
        before = fetch(store, service, endpoint, *baseline)
    return attribute(investigation, slow, before)


def attach(found: Attribution) -> None:
    """Evidence: the verdict, the slowest traces' answers as JSON."""
    evidence.attach_text("latency attribution", found.verdict())
    evidence.attach_json("latency attribution (slowest traces)", found.to_json())


def judge(found: Attribution) -> None:
    """The check: the expected span carries the added latency, else the verdict says why not."""
    assert found.holds, found.verdict()


def take_baseline(traffic: AbstractContextManager[object] | None) -> tuple[float, float]:
    """The endpoint's healthy traces: the scenario's traffic for a moment, before the fault."""
    began = time.time()
    title = f"Baseline traces: the scenario's traffic for {BASELINE_S:g} s"
    with evidence.step(title), traffic if traffic is not None else contextlib.nullcontext():
        time.sleep(BASELINE_S)
    return began, time.time()


@contextlib.contextmanager
def jaeger(stack: Stack) -> Iterator[TraceStore]:
    """The stack's Jaeger (its query API) as the trace store, for one investigation."""
    url = stack.jaeger_url
    if not url:
        raise ConfigError(
            f"{stack.kind} stack: a scenario investigates traces but the stack has no trace "
            "store (the project's telemetry.traces, or --jaeger-url)"
        )
    with httpx.Client(timeout=10.0) as http:
        yield JaegerClient(url, http)


def check_traces(
    stack: Stack,
    investigation: Investigation,
    since: float,
    baseline: tuple[float, float] | None,
    store: TraceStore | None = None,
) -> Attribution:
    """What the slowest traces of the endpoint show carrying the latency (an Allure step with the
    verdict and the traces as JSON; :func:`judge` is the check); ``store``: default the stack's
    Jaeger."""
    telemetry = stack.project.telemetry if stack.project is not None else None
    if telemetry is None:
        raise ConfigError(
            f"{stack.kind} stack: a scenario investigates traces but the project has no "
            "telemetry: section (its service_name is what the traces are searched by)"
        )
    service, delay = telemetry.service_name, stack.telemetry_delay_s
    span = investigation.expected()
    with (
        evidence.step(f"Review the slowest traces of {investigation.endpoint} ({span} expected)"),
        contextlib.ExitStack() as owned,
    ):
        used = store if store is not None else owned.enter_context(jaeger(stack))
        found = investigate_traces(
            used, service, investigation, since=since, baseline=baseline, delay_s=delay
        )
        attach(found)
    return found
