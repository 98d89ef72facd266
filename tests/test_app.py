"""The reference service against real PostgreSQL and Redis, the fake GitHub, as subprocesses.

One stack per module (a few seconds to start); tests that break a dependency run last and put
it back. Contract: docs/architecture.md, "The reference service" and "The fake upstream".
"""

from __future__ import annotations

import json
import re
import signal
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests._app_stack import (
    CHAOS_TOKEN,
    GITHUB_TOKEN,
    LOGIN_PASSWORD,
    Stack,
    free_port,
    make_root,
)

CHAOS = {"X-Chaos-Token": CHAOS_TOKEN}


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    """PostgreSQL, Redis, fake GitHub and the app; always torn down, even on failure."""
    running = Stack(make_root())
    try:
        running.start_postgres()
        running.start_redis()
        running.start_github()
        running.start_app()
        yield running
    finally:
        running.teardown()


@pytest.fixture(scope="module")
def http(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.app_url, timeout=10) as client:
        yield client


def eventually(check: Callable[[], Any], timeout: float = 5.0) -> Any:
    """Retry `check` until it returns something truthy without raising AssertionError."""
    deadline = time.monotonic() + timeout
    result: Any = None
    while True:
        try:
            result = check()
            if result:
                return result
        except AssertionError:
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last: {result!r})")
        time.sleep(0.1)


def samples(http: httpx.Client) -> list[tuple[str, dict[str, str], float]]:
    """Every sample on /api/metrics as (name, labels, value)."""
    text = http.get("/api/metrics").text
    return [
        (s.name, dict(s.labels), s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
    ]


def value(http: httpx.Client, name: str, **labels: str) -> float | None:
    """One sample's value, or None when absent."""
    for sample_name, sample_labels, sample_value in samples(http):
        if sample_name == name and all(sample_labels.get(k) == v for k, v in labels.items()):
            return sample_value
    return None


def test_health_is_healthy_with_contract_shape(http: httpx.Client) -> None:
    response = http.get("/health")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "healthy"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", body["timestamp"])
    assert body["version"] == "0.1.0"
    assert body["checks"] == {"database": "healthy", "redis": "healthy", "github_api": "healthy"}


def test_tasks_create_list_get_complete(http: httpx.Client) -> None:
    before = value(http, "tasks_completed_total") or 0.0
    created = http.post("/api/tasks", json={"title": "write the runbook"})
    assert created.status_code == 201
    task = created.json()
    assert task["title"] == "write the runbook" and task["completed"] is False
    assert task["created_at"].endswith("Z")
    listed = http.get("/api/tasks").json()["tasks"]
    assert task["id"] in [t["id"] for t in listed]
    assert http.get(f"/api/tasks/{task['id']}").json() == task
    done = http.post(f"/api/tasks/{task['id']}/complete")
    assert done.status_code == 200 and done.json()["completed"] is True
    assert done.json()["completed_at"]
    assert http.post(f"/api/tasks/{task['id']}/complete").status_code == 200  # idempotent
    assert value(http, "tasks_completed_total") == before + 1
    # the cache was invalidated: the list shows the completion
    assert next(t for t in http.get("/api/tasks").json()["tasks"] if t["id"] == task["id"])[
        "completed"
    ]
    assert http.get("/api/tasks/999999").status_code == 404
    assert http.get("/api/tasks/not-a-number").status_code == 404
    assert http.post("/api/tasks/999999/complete").status_code == 404
    assert http.post("/api/tasks", json={"title": ""}).status_code == 422
    assert http.post("/api/tasks", content=b"{nope").status_code == 400


def test_metrics_use_route_templates_and_contract_buckets(http: httpx.Client) -> None:
    task_id = http.post("/api/tasks", json={"title": "label me"}).json()["id"]
    http.get(f"/api/tasks/{task_id}")
    assert http.get("/no/such/path").status_code == 404
    http.get("/api/metrics")
    found = samples(http)
    endpoints = {
        labels.get("endpoint") for name, labels, _ in found if name == "http_requests_total"
    }
    assert "/api/tasks/{task_id}" in endpoints
    assert "unmatched" in endpoints
    assert not any(e and re.search(r"/\d+", e) for e in endpoints), endpoints
    assert "/api/metrics" not in endpoints
    buckets = {
        labels["le"]
        for name, labels, _ in found
        if name == "http_request_duration_seconds_bucket"
        and labels.get("endpoint") == "/api/tasks/{task_id}"
    }
    assert {"0.005", "0.2", "0.25", "10.0", "+Inf"} <= buckets
    assert len(buckets) == 18
    names = {name for name, _, _ in found}
    for required in (
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "app_memory_limit_bytes",
        "login_failures_total",
        "tasks_completed_total",
    ):
        assert required in names
    for dependency in ("database", "redis", "github_api"):
        assert value(http, "dependency_up", dependency=dependency) == 1


def test_github_quota_shows_in_gauges_and_proxy(stack: Stack, http: httpx.Client) -> None:
    fake = httpx.Client(base_url=stack.github_url, timeout=5)
    assert fake.put("/_fake/quota", json={"remaining": 1234, "limit": 5000}).is_success
    eventually(lambda: value(http, "github_api_rate_limit_remaining") == 1234)
    assert value(http, "github_api_rate_limit_limit") == 5000

    repo = http.get("/api/repos/octo-org/widgets")
    assert repo.status_code == 200
    assert repo.json()["full_name"] == "octo-org/widgets"
    assert repo.json()["owner"]["login"] == "octo-org"
    assert value(http, "github_api_rate_limit_remaining") == 1233  # from X-RateLimit headers
    assert fake.get("/_fake/state").json()["quota"]["remaining"] == 1233
    assert fake.get("/_fake/requests").json()["routes"]["repo"]["last_auth_scheme"] == "Bearer"
    assert http.get("/api/repos/octo-org/missing-repo").status_code == 404

    assert fake.put("/_fake/quota", json={"remaining": 0}).is_success
    assert http.get("/api/repos/octo-org/widgets").status_code == 502
    fake.put("/_fake/quota", json={"remaining": 5000})


def test_login_success_and_counted_failure(http: httpx.Client) -> None:
    ok = http.post("/api/login", json={"username": "demo", "password": LOGIN_PASSWORD})
    assert ok.status_code == 200 and ok.json()["token"]
    before = value(http, "login_failures_total") or 0.0
    bad = http.post("/api/login", json={"username": "demo", "password": "wrong-pw-123"})
    assert bad.status_code == 401
    assert http.post("/api/login", content=b"garbage").status_code == 401
    assert value(http, "login_failures_total") == before + 2
    assert value(http, "http_requests_total", endpoint="/api/login", status="401") == 2


def test_chaos_needs_the_right_token(http: httpx.Client) -> None:
    assert http.get("/api/chaos").status_code == 403
    assert (
        http.put("/api/chaos", json={"error_rate": 1}, headers={"X-Chaos-Token": "x"}).status_code
        == 403
    )
    assert http.get("/api/chaos", headers=CHAOS).json()["error_rate"] == 0
    bad = http.put("/api/chaos", json={"error_rate": 2}, headers=CHAOS)
    assert bad.status_code == 422


def test_chaos_errors_are_500_and_counted(http: httpx.Client) -> None:
    before = value(http, "http_requests_total", method="GET", endpoint="/api/tasks", status="500")
    put = http.put("/api/chaos", json={"endpoint": "/api/tasks", "error_rate": 1.0}, headers=CHAOS)
    assert put.status_code == 200
    try:
        assert [http.get("/api/tasks").status_code for _ in range(3)] == [500] * 3
        assert http.get("/health").status_code == 200  # never chaos'd
        assert http.get("/api/tasks/1").status_code != 500  # other templates untouched
    finally:
        assert http.delete("/api/chaos", headers=CHAOS).status_code == 200
    assert http.get("/api/tasks").status_code == 200
    after = value(http, "http_requests_total", method="GET", endpoint="/api/tasks", status="500")
    assert after == (before or 0) + 3


def test_chaos_latency_cpu_and_memory(http: httpx.Client) -> None:
    rss = value(http, "process_resident_memory_bytes") or 0.0
    cpu = value(http, "process_cpu_seconds_total") or 0.0
    changes = {"latency_ms": 300, "cpu_burn": 0.5, "memory_ballast_mb": 64}
    assert http.put("/api/chaos", json=changes, headers=CHAOS).status_code == 200
    try:
        started = time.monotonic()
        assert http.get("/api/tasks").status_code == 200
        assert time.monotonic() - started >= 0.3
        assert (value(http, "process_resident_memory_bytes") or 0) - rss > 50 * 2**20
        time.sleep(1.0)
        assert (value(http, "process_cpu_seconds_total") or 0) - cpu > 0.3
    finally:
        cleared = http.delete("/api/chaos", headers=CHAOS).json()
    assert cleared["memory_ballast_mb"] == 0 and cleared["ballast_bytes"] == 0


def test_second_app_starts_without_database_and_without_chaos(stack: Stack) -> None:
    """Boots although its database is down (reports it), and hides chaos without a token."""
    port = free_port()
    url = stack.start_app(
        name="app-nochaos",
        port=port,
        APP_CHAOS_TOKEN="",
        APP_DATABASE_URL=f"postgresql://postgres@127.0.0.1:{free_port()}/claude_manager",
    )
    try:
        started = time.monotonic()
        health = httpx.get(f"{url}/health", timeout=5)
        assert time.monotonic() - started < 2.0
        assert health.status_code == 503 and health.json()["status"] == "unhealthy"
        assert health.json()["checks"]["database"] == "unhealthy"
        assert httpx.get(f"{url}/api/chaos", headers=CHAOS).status_code == 404
        assert httpx.get(f"{url}/api/tasks/1", timeout=5).status_code == 503
    finally:
        stack.stop("app-nochaos")


def test_redis_down_degrades_then_recovers(stack: Stack, http: httpx.Client) -> None:
    stack.stop("redis")
    try:
        response = http.get("/health")
        assert response.status_code == 503
        assert response.json()["status"] == "degraded"
        assert response.json()["checks"]["redis"] == "unhealthy"
        assert response.json()["checks"]["database"] == "healthy"
        assert http.get("/api/tasks").status_code == 200  # served from the database
        eventually(lambda: value(http, "dependency_up", dependency="redis") == 0)
    finally:
        stack.start_redis()
    eventually(lambda: http.get("/health").status_code == 200)
    assert value(http, "dependency_up", dependency="redis") == 1


def test_database_outage_and_reconnect(stack: Stack, http: httpx.Client) -> None:
    stack.stop("postgres", signal.SIGINT)
    try:
        response = http.get("/health")
        assert response.status_code == 503 and response.json()["status"] == "unhealthy"
        started = time.monotonic()
        assert http.post("/api/tasks", json={"title": "during outage"}).status_code == 503
        assert time.monotonic() - started < 3.0  # fails fast, does not hang
    finally:
        stack.start_postgres(init=False)
    eventually(lambda: http.get("/health").status_code == 200, timeout=10)
    assert http.post("/api/tasks", json={"title": "after outage"}).status_code == 201


def test_a_client_gone_before_its_body_is_499_not_an_error(stack: Stack) -> None:
    """A client that closes mid-body (a load generator stopping) is nobody's fault: no ERROR
    line (the log check would page on it; the next test holds every line to that), 499."""
    host, port = stack.app_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        conn.sendall(b"POST /api/tasks HTTP/1.1\r\nHost: app\r\nContent-Type: application/json"
                     b"\r\nContent-Length: 100\r\n\r\n{\"title\": ")  # fmt: skip
        time.sleep(0.2)

    def closed() -> list[str]:
        lines = stack.log("app").read_text().splitlines()
        return [x for x in lines if '"status": 499' in x and '"/api/tasks"' in x]

    assert eventually(closed), "no access line with status 499 for the abandoned POST"


def test_every_log_line_is_json_without_secrets(stack: Stack) -> None:
    text = stack.log("app").read_text()
    lines = text.splitlines()
    assert len(lines) > 20
    for line in lines:
        entry = json.loads(line)
        assert {"ts", "level", "logger", "event"} <= entry.keys(), line
        assert entry["level"] in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}
        assert entry["level"] not in {"ERROR", "CRITICAL"}, line
    for secret in (LOGIN_PASSWORD, "wrong-pw-123", GITHUB_TOKEN, CHAOS_TOKEN):
        assert secret not in text
    access = [json.loads(x) for x in lines if '"app.access"' in x]
    assert {"method", "path", "status", "duration_ms"} <= access[0].keys()
    assert any(e["path"] == "/api/tasks/{task_id}" for e in access)
    warned = [json.loads(x) for x in lines if '"injected error"' in x]
    assert warned and all(e["level"] == "WARNING" and e["chaos"] is True for e in warned)
    assert any('"login failed"' in x and '"WARNING"' in x for x in lines)
