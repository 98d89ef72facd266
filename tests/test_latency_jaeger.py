"""The latency investigation against the real Jaeger v2, fed by the real OpenTelemetry SDK
(tests/_jaeger.py's traced target): the slow PostgreSQL span is found through Jaeger's query
API and named; a scenario expecting Redis fails naming PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from synthmon.traces.attribution import Attribution, Investigation
from synthmon.traces.expect import SpanExpectation
from synthmon.traces.investigate import investigate_traces, judge
from synthmon.traces.jaeger import JaegerClient
from tests._jaeger import BATCH_TIMEOUT_S, Jaeger, running_jaeger, traced_target

ENDPOINT = "GET /tasks/1"
SERVICE = "latency-app"
DELAY_S = 0.25


@pytest.fixture(scope="module")
def jaeger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Jaeger]:
    with running_jaeger(Path(tmp_path_factory.mktemp("jaeger"))) as running:
        yield running


@pytest.fixture(scope="module")
def windows(jaeger: Jaeger) -> tuple[tuple[float, float], float]:
    """Six healthy requests, then twelve with the PostgreSQL span slowed (the fault)."""
    with (
        traced_target(jaeger.otlp_url, SERVICE, schedule_delay_ms=100) as target,
        httpx.Client() as http,
    ):
        began = time.time()
        for _ in range(6):
            http.get(f"{target.url}/tasks/1")
        ended = time.time()
        target.delay_s = DELAY_S
        for _ in range(12):
            http.get(f"{target.url}/tasks/1")
    return (began, ended), ended


def _run(
    jaeger: Jaeger, windows: tuple[tuple[float, float], float], span: SpanExpectation
) -> Attribution:
    baseline, since = windows
    with httpx.Client(timeout=10) as http:
        store = JaegerClient(jaeger.query_url, http)
        return investigate_traces(
            store, SERVICE, Investigation(ENDPOINT, span), since=since, baseline=baseline,
            delay_s=BATCH_TIMEOUT_S + 1,
        )  # fmt: skip


def test_the_slow_postgres_span_is_named_from_jaeger(
    jaeger: Jaeger, windows: tuple[tuple[float, float], float]
) -> None:
    found = _run(jaeger, windows, SpanExpectation(attributes={"db.system": "postgresql"}))
    judge(found)
    assert found.baseline.traces == 6 and found.searched == 12, found.to_json()
    assert found.carrier == f"{SERVICE} client [postgresql]"


def test_expecting_redis_fails_naming_postgres(
    jaeger: Jaeger, windows: tuple[tuple[float, float], float]
) -> None:
    found = _run(jaeger, windows, SpanExpectation(attributes={"db.system": "redis"}))
    with pytest.raises(AssertionError) as caught:
        judge(found)
    assert f"but `{SERVICE} client [postgresql]` does (5/5 of the slowest traces, +25" in str(
        caught.value
    ), caught.value
