"""The Prometheus adapter against a canned local HTTP server: typed results, loud failures."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from synthmon.errors import QueryError
from synthmon.prom import Alert, Prometheus, Sample, Target, wait_until

PARSE_ERROR = {"status": "error", "errorType": "bad_data",
               "error": "1:5: parse error: unclosed left parenthesis"}  # fmt: skip


def _vector(*samples: tuple[dict[str, str], str]) -> dict[str, Any]:
    result = [{"metric": m, "value": [1700000000.5, v]} for m, v in samples]
    return {"status": "success", "data": {"resultType": "vector", "result": result}}


ANSWERS: dict[str, tuple[int, Any]] = {
    "sum(": (400, PARSE_ERROR),
    "empty": (200, _vector()),
    "one": (200, _vector(({"__name__": "up", "job": "app"}, "1"))),
    "two": (200, _vector(({"job": "a"}, "1"), ({"job": "b"}, "NaN"))),
    "scalar": (200, {"status": "success",
                     "data": {"resultType": "scalar", "result": [1700000000.5, "42"]}}),
    "matrix": (200, {"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"job": "a"}, "values": [[1.0, "1"], [2.0, "+Inf"]]}]}}),
    "html": (200, "<html>hello</html>"),
    "boom": (500, "internal server error"),
}  # fmt: skip
API = {
    "/api/v1/alerts": {"status": "success", "data": {"alerts": [
        {"labels": {"alertname": "HighErrorRate", "severity": "critical"},
         "annotations": {"summary": "x"}, "state": "firing", "value": "5e-02"}]}},
    "/api/v1/rules": {"status": "success", "data": {"groups": [
        {"name": "app", "file": "rules.yml", "rules": []}]}},
    "/api/v1/targets": {"status": "success", "data": {"activeTargets": [
        {"labels": {"job": "app", "instance": "h:1"}, "scrapePool": "app", "health": "down",
         "lastError": "connection refused", "scrapeUrl": "http://h:1/api/metrics"}],
        "droppedTargets": []}},
}  # fmt: skip


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        params = parse_qs(url.query)
        body: Any
        if url.path == "/api/v1/query":
            query = params["query"][0]
            if query == "slow":
                time.sleep(1.5)
            if query == "echo-time":
                status, body = 200, _vector(({}, params.get("time", ["none"])[0]))
            else:
                status, body = ANSWERS.get(query, (200, _vector()))
        elif url.path == "/api/v1/query_range":
            status, body = ANSWERS["matrix"]
        else:
            status, body = (200, API[url.path]) if url.path in API else (404, "not found")
        data = (body if isinstance(body, str) else json.dumps(body)).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client timed out ("slow")
            pass


@pytest.fixture
def prom() -> Iterator[Prometheus]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    client = Prometheus(f"http://127.0.0.1:{server.server_address[1]}", timeout=0.5)
    yield client
    client.close()
    server.shutdown()
    server.server_close()


def test_query_returns_typed_samples(prom: Prometheus) -> None:
    assert prom.query("one") == [Sample({"__name__": "up", "job": "app"}, 1.0, 1700000000.5)]
    assert prom.query("scalar") == [Sample({}, 42.0, 1700000000.5)]
    [_, nan] = prom.query("two")
    assert nan.value != nan.value
    assert prom.query("echo-time", at=1700000123.25)[0].value == 1700000123.25


def test_promql_error_is_one_line_with_url_query_and_prometheus_text(prom: Prometheus) -> None:
    with pytest.raises(QueryError) as caught:
        prom.query("sum(")
    assert str(caught.value) == (
        f"Prometheus {prom.url}: query 'sum(': HTTP 400: bad_data: "
        "1:5: parse error: unclosed left parenthesis"
    )


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("html", r"not a Prometheus API answer"),
        ("boom", r"query 'boom': HTTP 500: internal server error$"),
        ("slow", r"query 'slow': no answer within 0.5 s$"),
    ],
)
def test_failures_are_query_errors(prom: Prometheus, query: str, message: str) -> None:
    with pytest.raises(QueryError, match=message) as caught:
        prom.query(query)
    assert "\n" not in str(caught.value)


def test_unreachable_is_a_query_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with (
        Prometheus(f"http://127.0.0.1:{port}", timeout=1) as prom,
        pytest.raises(QueryError, match=r"query 'up': unreachable: Connection refused$"),
    ):
        prom.query("up")


def test_query_one(prom: Prometheus) -> None:
    assert prom.query_one("one", what="app up").value == 1.0
    with pytest.raises(QueryError, match=r"^no data: app up: empty returned nothing$"):
        prom.query_one("empty", what="app up")
    with pytest.raises(QueryError, match="returned 2 series, expected one"):
        prom.query_one("two", what="app up")


def test_matrix_and_range(prom: Prometheus) -> None:
    [series] = prom.query_matrix("matrix", at=5)
    assert series.labels == {"job": "a"} and series.points == ((1.0, 1.0), (2.0, float("inf")))
    [ranged] = prom.query_range("whatever", 0, 10, 1)
    assert ranged.points[0] == (1.0, 1.0)
    with pytest.raises(QueryError, match="expected a range vector"):
        prom.query_matrix("one")


def test_targets_alerts_rules(prom: Prometheus) -> None:
    assert prom.targets() == [
        Target("app", "down", "connection refused", "http://h:1/api/metrics",
               {"job": "app", "instance": "h:1"})
    ]  # fmt: skip
    [alert] = prom.alerts()
    assert alert == Alert(
        "HighErrorRate",
        "firing",
        {"alertname": "HighErrorRate", "severity": "critical"},
        {"summary": "x"},
        "5e-02",
    )
    assert prom.rules()[0]["name"] == "app"


def test_wait_until() -> None:
    calls = iter([False, False, True])
    wait_until(lambda: next(calls), 5, lambda: "never", interval=0.01)

    def broken() -> bool:
        raise QueryError("Prometheus x: unreachable")

    with pytest.raises(
        QueryError,
        match=r"^timed out after 0.05 s waiting for the condition; last seen: state 7; "
        r"last error: Prometheus x: unreachable$",
    ):
        wait_until(broken, 0.05, lambda: "state 7", interval=0.01)
