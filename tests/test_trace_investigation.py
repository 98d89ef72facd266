"""The live half of the latency investigation (synthmon.traces.investigate) against a stand-in
for the trace store (T3's JaegerClient signature): it waits for enough traces since the fault,
compares them with the window before it, and fails saying what it searched."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest

from synthmon.errors import ConfigError
from synthmon.stack import Stack
from synthmon.traces import investigate as live
from synthmon.traces.attribution import Investigation
from synthmon.traces.expect import SpanExpectation
from synthmon.traces.investigate import check_traces, investigate_traces, judge
from synthmon.traces.model import Trace
from tests._traces import TASK, task

POSTGRES = SpanExpectation(attributes={"db.system": "postgresql"})
REDIS = SpanExpectation(attributes={"db.system": "redis"})


class StandIn:
    """Answers find() from a list of (epoch seconds, trace); ``ready``: how many the store holds
    after each search (what the batch delay does), None: all at once."""

    def __init__(self, traces: list[tuple[float, Trace]], ready: list[int] | None = None) -> None:
        self.traces, self.ready = traces, ready
        self.calls: list[tuple[str, str | None, datetime, datetime, int]] = []

    def find(
        self, service: str, operation: str | None = None, *, start: datetime, end: datetime,
        limit: int = 20,
    ) -> list[Trace]:  # fmt: skip
        self.calls.append((service, operation, start, end, limit))
        held = self.traces if not self.ready else self.traces[: self.ready.pop(0)]
        return [
            t for at, t in held if start.timestamp() <= at <= end.timestamp()
        ][:limit]  # fmt: skip


def scene(now: float) -> list[tuple[float, Trace]]:
    before = [(now - 8 + i * 0.5, task(db_us=900)) for i in range(6)]
    during = [(now - 2 + i * 0.1, task(db_us=300_000)) for i in range(12)]
    return before + during


def test_the_slow_traces_since_the_fault_are_compared_with_the_ones_before() -> None:
    now = time.time()
    store = StandIn(scene(now), ready=[6, 9, 18, 18])  # the store catches up over 3 searches
    found = investigate_traces(
        store, "manager-app", Investigation(TASK, POSTGRES), since=now - 3,
        baseline=(now - 9, now - 4), delay_s=5.0,
    )  # fmt: skip
    judge(found)
    assert (found.searched, found.baseline.traces, found.agree) == (12, 6, 5)
    service, operation, start, _, limit = store.calls[0]
    assert (service, operation, limit) == ("manager-app", TASK, 100)
    assert start.timestamp() == pytest.approx(now - 3)
    assert len(store.calls) == 4  # three waits, one baseline search


def test_expecting_the_wrong_span_fails_the_check_naming_the_carrier() -> None:
    now = time.time()
    found = investigate_traces(
        StandIn(scene(now)), "manager-app", Investigation(TASK, REDIS), since=now - 3,
        baseline=(now - 9, now - 4), delay_s=1.0,
    )  # fmt: skip
    with pytest.raises(AssertionError) as caught:
        judge(found)
    assert "expected a span {db.system=redis} to carry the added latency, but " in str(caught.value)
    assert "`manager-app client [postgresql]` does (5/5 of the slowest traces" in str(caught.value)


def test_too_few_traces_fail_with_what_was_searched(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live, "MARGIN_S", 0.0)
    now = time.time()
    with pytest.raises(AssertionError) as caught:
        investigate_traces(
            StandIn(scene(now)[:8]), "manager-app", Investigation(TASK, POSTGRES),
            since=now - 3, baseline=None, delay_s=0.5,
        )  # fmt: skip
    message = str(caught.value)
    assert message.startswith(
        "GET /api/tasks/{task_id}: the traces cannot show where the time went: timed out after "
        "0.5 s waiting for 5 traces of manager-app 'GET /api/tasks/{task_id}' since the fault in "
        "the trace store; last seen: 2 found (searched service 'manager-app', operation "
    ), message


def _stack(telemetry: object = None, **fields: object) -> Stack:
    project = SimpleNamespace(name="manager-app", telemetry=telemetry)
    fields.setdefault("telemetry_delay_s", 0.5)
    return cast(Stack, SimpleNamespace(kind="processes", project=project, **fields))


SVC = SimpleNamespace(service_name="svc")


def test_check_traces_searches_the_projects_service_name() -> None:
    now = time.time()
    store = StandIn([(at, t) for at, t in scene(now)])
    stack = _stack(SVC, telemetry_delay_s=0.5)
    found = check_traces(stack, Investigation(TASK, POSTGRES), now - 3, None, store)
    assert found.holds and store.calls[0][0] == "svc"
    assert "no baseline traces before the fault" in found.verdict()


def test_a_stack_without_a_trace_store_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"^processes stack: .* has no trace store"):
        check_traces(_stack(SVC, jaeger_url=None), Investigation(TASK, POSTGRES), 0.0, None)
    with pytest.raises(ConfigError, match=r"^processes stack: .* project has no telemetry:"):
        check_traces(_stack(None, jaeger_url=None), Investigation(TASK, POSTGRES), 0.0, None)


def test_the_baseline_runs_the_traffic_it_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live, "BASELINE_S", 0.05)
    entered: list[str] = []

    class Traffic:
        def __enter__(self) -> None:
            entered.append("on")

        def __exit__(self, *exc: object) -> None:
            entered.append("off")

    began, ended = live.take_baseline(Traffic())
    assert entered == ["on", "off"] and ended - began >= 0.05
    assert Path(live.__file__).name == "investigate.py"
