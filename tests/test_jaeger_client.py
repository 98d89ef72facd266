"""JaegerClient against the real Jaeger v2 binary, fed by the real OpenTelemetry SDK exporter;
the OTLP JSON parser on a recorded answer."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from synthmon.errors import HttpError, QueryError
from synthmon.traces.jaeger import JaegerClient
from synthmon.traces.otlp import traces_of
from synthmon.traces.pipeline import traceparent
from synthmon.waiting import wait_until
from tests._jaeger import Jaeger, running_jaeger, traced_target

DATA = Path(__file__).parent / "data" / "jaeger"


@pytest.fixture(scope="module")
def jaeger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Jaeger]:
    with running_jaeger(tmp_path_factory.mktemp("jaeger")) as running:
        yield running


@pytest.fixture
def client(jaeger: Jaeger) -> Iterator[JaegerClient]:
    with httpx.Client(timeout=5) as http:
        yield JaegerClient(jaeger.query_url, http)


def test_a_traced_request_is_found_by_id_and_by_search(
    jaeger: Jaeger, client: JaegerClient
) -> None:
    start = datetime.now(UTC) - timedelta(seconds=1)
    with traced_target(jaeger.otlp_url, service="client-test") as target:
        trace_id, header = traceparent()
        httpx.get(f"{target.url}/api/tasks/1", headers={"traceparent": header}).raise_for_status()
        trace = wait_until(lambda: client.trace(trace_id), timeout_s=10, what="the trace")
    assert "client-test" in client.services()
    assert trace.trace_id == trace_id
    server = next(s for s in trace.spans if s.kind == "server")
    assert server.name == "GET /api/tasks/1" and server.service == "client-test"
    assert server.parent_id is not None and trace.roots() == (server,)  # the caller's parent
    db = next(s for s in trace.spans if s.attributes.get("db.system") == "postgresql")
    assert db.kind == "client" and db.parent_id == server.span_id
    assert 0 < db.duration_us <= server.duration_us
    found = client.find("client-test", start=start, end=datetime.now(UTC))
    assert [t.trace_id for t in found] == [trace_id]
    assert {s.span_id for s in found[0].spans} == {s.span_id for s in trace.spans}
    assert client.find("client-test", operation="GET /api/tasks/1", start=start)
    assert client.find("client-test", operation="no such operation", start=start) == []
    assert client.find("client-test", start=start, min_duration_ms=60_000) == []


def test_no_trace_is_none_and_no_service_is_empty(client: JaegerClient) -> None:
    assert client.trace("0" * 32) is None
    assert client.find("no-such-service") == []


def test_a_bad_request_is_one_line_in_the_http_format(client: JaegerClient) -> None:
    with pytest.raises(HttpError, match=r"^Jaeger http://127\.0\.0\.1:\d+: GET /api/v3/traces"):
        client.find("x", limit=0)  # Jaeger refuses a search depth of 0


def test_an_unreachable_jaeger_is_named() -> None:
    unreachable = r"^Jaeger http://127\.0\.0\.1:9: .*unreachable"
    with httpx.Client(timeout=2) as http, pytest.raises(HttpError, match=unreachable):
        JaegerClient("http://127.0.0.1:9", http).services()


def test_recorded_otlp_json_parses_into_the_model() -> None:
    doc = json.loads((DATA / "v3-traces.json").read_text())
    (trace,) = traces_of(doc)
    assert trace.trace_id == "2f5a1e52c5112029a50575c3573eef7d"
    (root,) = trace.roots()
    assert (root.name, root.kind, root.service) == ("GET /api/tasks/{id}", "server", "demo")
    (child,) = trace.children(root)
    assert child.attributes == {"db.system": "postgresql", "n": 3}
    assert child.duration_us == 10108 and trace.self_time_us(root) == 10302 - 10108


def test_another_shape_is_a_query_error() -> None:
    with pytest.raises(QueryError, match="expected OTLP JSON with resourceSpans"):
        traces_of({"data": []})
