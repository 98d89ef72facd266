"""The reference app traced for real: its OTLP spans and logs in a real Jaeger v2 and
VictoriaLogs, trace IDs in its log lines and as exemplars on its OpenMetrics exposition, and no
statement text or secret header in any exported span attribute.

PostgreSQL, Redis and the fake GitHub as in tests/test_app.py; requests carry a W3C
`traceparent`, so each test knows the trace ID to look for.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import secrets
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)
from prometheus_client.parser import text_string_to_metric_families as parse_text

from synthmon.waiting import NotYet, wait_until
from tests._app_stack import CHAOS_TOKEN, GITHUB_TOKEN, Stack, free_port, make_root
from tests._otel_backends import (
    Backends,
    attribute_leaks,
    by_kind,
    jaeger_attributes,
    tags,
)
from tests._programs import require

SERVICE = "manager-app-test"
COOKIE_SECRET = "cookie-session-value-never-exported"
BEARER_SECRET = "bearer-value-never-exported"
SECRETS = {
    "the chaos token": CHAOS_TOKEN,
    "the GitHub token": GITHUB_TOKEN,
    "a cookie": COOKIE_SECRET,
    "a bearer token": BEARER_SECRET,
    "SQL text": "FROM tasks",
}
OPENMETRICS_ACCEPT = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"
PLAIN_PORT = free_port()
PLAIN = f"http://127.0.0.1:{PLAIN_PORT}"
TELEMETRY = Path(__file__).resolve().parents[1] / "examples/manager-app/app/telemetry.py"


@pytest.fixture(scope="module")
def backends() -> Iterator[Backends]:
    running = Backends(make_root())
    try:
        running.start()
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def stack(backends: Backends) -> Iterator[Stack]:
    """The app twice on one PostgreSQL/Redis/GitHub: exporting ("app"), and untraced ("plain"
    on PLAIN_PORT)."""
    running = Stack(make_root())
    try:
        running.start_postgres()
        running.start_redis()
        running.start_github()
        running.start_app(
            OTEL_EXPORTER_OTLP_ENDPOINT=backends.otlp_url,
            OTEL_SERVICE_NAME=SERVICE,
            OTEL_BSP_SCHEDULE_DELAY="100",
            OTEL_BLRP_SCHEDULE_DELAY="100",
            # the worst case: every header captured; only the app's redaction stands in between
            OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST=".*",
            OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_REQUEST=".*",
        )
        running.start_app("plain", port=PLAIN_PORT, OTEL_EXPORTER_OTLP_ENDPOINT="")
        yield running
    finally:
        running.teardown()


def traceparent() -> tuple[str, dict[str, str]]:
    """A fresh sampled trace ID and the header that makes the app's server span its child."""
    trace_id = secrets.token_hex(16)
    return trace_id, {"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"}


def app_log(stack: Stack, name: str = "app") -> list[dict[str, Any]]:
    lines = stack.log(name).read_text().splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


def test_a_tasks_request_is_one_trace_with_server_postgresql_and_redis_spans(
    stack: Stack, backends: Backends
) -> None:
    httpx.post(f"{stack.app_url}/api/tasks", json={"title": "traced"}, timeout=5)  # cache cold
    trace_id, headers = traceparent()
    response = httpx.get(f"{stack.app_url}/api/tasks", headers=headers, timeout=5)
    assert response.headers["X-Cache"] == "miss"
    trace = backends.trace(trace_id, want_spans=4)  # server, redis GET, SELECT, redis SET
    groups = by_kind(trace)
    found = {k: [s["operationName"] for s in v] for k, v in groups.items()}
    assert [s["operationName"] for s in groups["server"]] == ["GET /api/tasks"], found
    assert groups["postgresql"] and groups["redis"], found
    server_id = groups["server"][0]["spanID"]
    for span in groups["postgresql"] + groups["redis"]:
        assert [r["spanID"] for r in span["references"]] == [server_id], span["operationName"]
    assert {tags(s)["peer.service"] for s in groups["postgresql"]} == {"database"}
    assert {tags(s)["peer.service"] for s in groups["redis"]} == {"redis"}
    assert trace["processes"][groups["server"][0]["processID"]]["serviceName"] == SERVICE


def test_scrapes_are_not_traced(stack: Stack, backends: Backends) -> None:
    scrape_id, headers = traceparent()
    httpx.get(f"{stack.app_url}/api/metrics", headers=headers, timeout=5)
    trace_id, headers = traceparent()
    httpx.get(f"{stack.app_url}/api/tasks/1", headers=headers, timeout=5)
    backends.trace(trace_id, want_spans=2)  # exported after the scrape's would have been
    response = httpx.get(f"{backends.query_url}/api/traces/{scrape_id}", timeout=5)
    assert response.status_code == 404, response.text[:300]


def test_the_github_upstream_call_is_a_client_span_of_the_request(
    stack: Stack, backends: Backends
) -> None:
    trace_id, headers = traceparent()
    response = httpx.get(f"{stack.app_url}/api/repos/octocat/hello-world", headers=headers)
    assert response.status_code == 200, response.text
    groups = by_kind(backends.trace(trace_id, want_spans=2))
    [server] = groups["server"]
    assert server["operationName"] == "GET /api/repos/{owner}/{repo}"
    [client] = groups["client"]
    url = tags(client).get("url.full") or tags(client).get("http.url")  # stable or old semconv
    assert "/repos/octocat/hello-world" in str(url), tags(client)
    assert client["references"][0]["spanID"] == server["spanID"]
    assert tags(client)["peer.service"] == "github_api"


def test_no_statement_or_secret_header_reaches_an_exported_span(
    stack: Stack, backends: Backends
) -> None:
    trace_id, headers = traceparent()
    headers |= {
        "Authorization": f"Bearer {BEARER_SECRET}",
        "X-Chaos-Token": CHAOS_TOKEN,
        "Cookie": f"session={COOKIE_SECRET}",
    }
    httpx.get(f"{stack.app_url}/api/tasks/1", headers=headers, timeout=5)
    trace = backends.trace(trace_id, want_spans=2)
    assert attribute_leaks(jaeger_attributes(trace), SECRETS) == []
    server = tags(by_kind(trace)["server"][0])
    # the headers were captured (the instrumentation is told to): redaction is what hid them
    assert server.get("http.request.header.x_chaos_token") == '["[REDACTED]"]', server
    assert server.get("http.request.header.authorization") == '["[REDACTED]"]', server
    # and the upstream client span too, whose Authorization is the GitHub token
    trace_id, headers = traceparent()
    httpx.get(f"{stack.app_url}/api/repos/octocat/hello-world", headers=headers)
    upstream = backends.trace(trace_id, want_spans=2)
    assert attribute_leaks(jaeger_attributes(upstream), SECRETS) == []
    client = tags(by_kind(upstream)["client"][0])
    assert client.get("http.request.header.authorization") == '["[REDACTED]"]', client


def test_the_leak_check_names_an_injected_statement_and_secret(
    stack: Stack, backends: Backends
) -> None:
    """Self-test: the check above would see a statement or a token that got through."""
    trace_id, headers = traceparent()
    httpx.get(f"{stack.app_url}/api/tasks/1", headers=headers, timeout=5)
    trace = copy.deepcopy(backends.trace(trace_id, want_spans=2))
    [db] = by_kind(trace)["postgresql"]
    db["tags"].append({"key": "db.statement", "type": "string", "value": "SELECT id FROM tasks"})
    db["tags"].append({"key": "http.request.header.x_chaos_token", "value": [CHAOS_TOKEN]})
    leaks = attribute_leaks(jaeger_attributes(trace), SECRETS)
    name = db["operationName"]
    assert leaks == [
        f"span {name!r}: attribute db.statement = 'SELECT id FROM tasks'",
        f"span {name!r}: attribute http.request.header.x_chaos_token carries the chaos token",
    ]


def test_redaction_is_what_keeps_them_out(tmp_path: Path) -> None:
    """Self-test in-process: the same spans without the redacting exporter are caught."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    spec = importlib.util.spec_from_file_location("manager_app_telemetry", TELEMETRY)
    assert spec is not None and spec.loader is not None
    telemetry = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(telemetry)
    raw, cleaned = InMemorySpanExporter(), InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(raw))
    provider.add_span_processor(SimpleSpanProcessor(telemetry.redacting(cleaned)))
    attributes = {
        "db.query.text": "SELECT id FROM tasks WHERE id = %s",
        "http.request.header.cookie": (f"session={COOKIE_SECRET}",),
        "http.request.header.x_auth_token": (BEARER_SECRET,),
        "url.full": f"http://u:{GITHUB_TOKEN}@h/x?access_token={GITHUB_TOKEN}&page=2",
        "db.system": "postgresql",
    }
    with provider.get_tracer("t").start_as_current_span("SELECT", attributes=attributes) as span:
        span.add_event("exception", {"db.statement": "DELETE FROM tasks"})

    def flat(spans: Any) -> list[tuple[str, str, Any]]:
        out = [(s.name, k, v) for s in spans for k, v in (s.attributes or {}).items()]
        return out + [
            (s.name, k, v) for s in spans for e in s.events for k, v in e.attributes.items()
        ]

    assert attribute_leaks(flat(raw.get_finished_spans()), SECRETS) == [
        "span 'SELECT': attribute db.query.text = 'SELECT id FROM tasks WHERE id = %s'",
        "span 'SELECT': attribute http.request.header.cookie carries a cookie",
        "span 'SELECT': attribute http.request.header.x_auth_token carries a bearer token",
        "span 'SELECT': attribute url.full carries the GitHub token",
        "span 'SELECT': attribute db.statement = 'DELETE FROM tasks'",
    ]
    [kept] = cleaned.get_finished_spans()
    assert attribute_leaks(flat([kept]), SECRETS) == []
    assert kept.attributes["db.system"] == "postgresql"
    assert kept.attributes["url.full"] == "http://h/x?access_token=%5BREDACTED%5D&page=2"


def test_log_lines_carry_the_trace_and_span_ids(stack: Stack, backends: Backends) -> None:
    trace_id, headers = traceparent()
    httpx.get(f"{stack.app_url}/api/tasks/1", headers=headers, timeout=5)
    [server] = by_kind(backends.trace(trace_id, want_spans=2))["server"]
    lines = [e for e in app_log(stack) if e.get("trace_id") == trace_id]
    assert [e["event"] for e in lines] == ["request"], lines
    assert lines[0]["span_id"] == server["spanID"] and len(lines[0]["span_id"]) == 16
    background = [e for e in app_log(stack) if e["event"] == "started"]
    assert background and "trace_id" not in background[0]  # no span, no IDs


def test_an_unsampled_request_gets_no_ids_and_no_exemplar(stack: Stack) -> None:
    """The caller said "not sampled" (flags 00): nothing would link to a trace in Jaeger."""
    trace_id = secrets.token_hex(16)
    headers = {"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-00"}
    httpx.get(f"{stack.app_url}/api/tasks/1", headers=headers, timeout=5)
    om = httpx.get(f"{stack.app_url}/api/metrics", headers={"Accept": OPENMETRICS_ACCEPT}).text
    assert trace_id not in om and trace_id not in stack.log("app").read_text()


def test_log_records_reach_victorialogs_with_level_logger_and_trace(
    stack: Stack, backends: Backends
) -> None:
    trace_id, headers = traceparent()
    httpx.post(f"{stack.app_url}/api/login", json={"username": "x"}, headers=headers)
    [record] = backends.log_records(f'trace_id:"{trace_id}" AND _msg:"login failed"')
    assert (record["severity_text"], record["severity_number"]) == ("WARNING", "13"), record
    assert record["logger"] == "app.api" and record["username"] == "x", record
    assert record["service.name"] == SERVICE and len(record["span_id"]) == 16, record


def test_openmetrics_carries_trace_id_exemplars_and_the_text_format_stays(
    stack: Stack, backends: Backends
) -> None:
    trace_id, headers = traceparent()
    httpx.get(f"{stack.app_url}/api/tasks/1", headers=headers, timeout=5)
    om = httpx.get(f"{stack.app_url}/api/metrics", headers={"Accept": OPENMETRICS_ACCEPT})
    assert om.headers["content-type"].startswith("application/openmetrics-text; version=1.0.0")
    samples = [s for f in parse_openmetrics(om.text) for s in f.samples]
    exemplars = {
        s.exemplar.labels["trace_id"]
        for s in samples
        if s.name == "http_request_duration_seconds_bucket" and s.exemplar
    }
    assert trace_id in exemplars, sorted(exemplars)[:5]
    assert not [s.name for s in samples if s.name.endswith("_created")]
    text = httpx.get(f"{stack.app_url}/api/metrics").text
    names = {s.name for f in parse_text(text) for s in f.samples}
    assert {s.name for s in samples} == names  # same series, only the format differs
    assert "# {" not in text


@pytest.fixture(scope="module")
def prometheus(stack: Stack) -> Iterator[str]:
    """Debian's Prometheus scraping the traced app every second, exemplar storage on."""
    binary = require("prometheus")
    port = free_port()
    config = stack.root / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s}\n"
        "scrape_configs:\n"
        f"  - {{job_name: app, metrics_path: /api/metrics, static_configs: "
        f"[{{targets: ['127.0.0.1:{stack.app_port}']}}]}}\n"
    )
    argv = [binary, f"--config.file={config}", f"--storage.tsdb.path={stack.root / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--enable-feature=exemplar-storage"]  # fmt: skip
    stack.spawn("prometheus", argv)
    url = f"http://127.0.0.1:{port}"
    wait_until(
        lambda: httpx.get(f"{url}/-/ready", timeout=1).status_code == 200,
        timeout_s=30, interval_s=0.2, what="prometheus ready", retry_on=(httpx.HTTPError,),
    )  # fmt: skip
    yield url
    stack.stop("prometheus")


def test_prometheus_scrapes_openmetrics_and_stores_the_trace_id_exemplars(
    stack: Stack, prometheus: str
) -> None:
    trace_id, headers = traceparent()
    httpx.get(f"{stack.app_url}/api/tasks/1", headers=headers, timeout=5)
    query = 'http_request_duration_seconds_bucket{endpoint="/api/tasks/{task_id}"}'

    def stored() -> list[str] | NotYet:
        end = time.time()
        params = {"query": query, "start": end - 120, "end": end}
        body = httpx.get(f"{prometheus}/api/v1/query_exemplars", params=params).json()
        ids = [e["labels"]["trace_id"] for s in body["data"] for e in s["exemplars"]]
        return ids if trace_id in ids else NotYet(f"exemplars: {ids[-5:]}")

    wait_until(stored, timeout_s=20, interval_s=0.5, what=f"exemplar {trace_id} in Prometheus")
    targets = httpx.get(f"{prometheus}/api/v1/targets").json()["data"]["activeTargets"]
    assert [t["health"] for t in targets] == ["up"], targets
    created = httpx.get(f"{prometheus}/api/v1/query", params={"query": '{__name__=~".+_created"}'})
    assert created.json()["data"]["result"] == []  # OpenMetrics adds no _created series here


def test_untraced_the_app_logs_no_ids_and_serves_no_exemplars(stack: Stack) -> None:
    url = PLAIN
    _, headers = traceparent()
    httpx.get(f"{url}/api/tasks/1", headers=headers, timeout=5)
    om = httpx.get(f"{url}/api/metrics", headers={"Accept": OPENMETRICS_ACCEPT}).text
    assert " # {" not in om and "# EOF" in om
    assert not [e for e in app_log(stack, "plain") if "trace_id" in e]


def test_a_collector_that_is_down_neither_fails_requests_nor_holds_the_shutdown(
    stack: Stack,
) -> None:
    port = free_port()
    url = stack.start_app(
        "orphan", port=port, OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{free_port()}"
    )
    _, headers = traceparent()
    assert httpx.get(f"{url}/api/tasks/1", headers=headers, timeout=5).status_code in (200, 404)
    started = time.monotonic()
    stack.stop("orphan", grace=30)
    assert time.monotonic() - started < 6, "shutdown waited on the unreachable collector"


def median_ms(url: str, n: int = 200) -> float:
    with httpx.Client(base_url=url, timeout=5) as client:
        client.get("/api/tasks/1")
        times = []
        for _ in range(n):
            started = time.perf_counter()
            client.get("/api/tasks/1")
            times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def test_export_costs_little_per_request(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    plain = median_ms(PLAIN)
    traced = median_ms(stack.app_url)
    with capsys.disabled():
        print(f"\nGET /api/tasks/1 median of 200: export off {plain:.2f} ms, on {traced:.2f} ms")
    assert traced < plain * 3 + 5, (plain, traced)
