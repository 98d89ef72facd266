"""The health judges: each names exactly what is wrong."""

from __future__ import annotations

from synthmon.health import app_health_problems, log_problems, target_problems
from synthmon.prom import Target

DEPS = ("database", "redis", "github_api")  # the reference example's health checks

HEALTHY = {
    "status": "healthy",
    "timestamp": "2025-08-02T10:00:00Z",
    "version": "0.1.0",
    "checks": {"database": "healthy", "redis": "healthy", "github_api": "healthy"},
}


def test_runbook_example_is_healthy() -> None:
    assert app_health_problems(200, HEALTHY, DEPS) == []


def test_unhealthy_dependency_is_named() -> None:
    body = {
        **HEALTHY,
        "status": "unhealthy",
        "checks": {**HEALTHY["checks"], "database": "unhealthy"},
    }
    problems = app_health_problems(503, body, DEPS)
    assert "dependency database is unhealthy" in problems
    assert "HTTP 503, expected 200" in problems
    assert not any("redis" in p for p in problems)


def test_shape_problems() -> None:
    body = {"status": "fine", "timestamp": "yesterday", "version": "", "checks": {}}
    problems = app_health_problems(200, body, DEPS)
    assert "dependency github_api is missing" in problems
    assert any("timestamp 'yesterday' is not ISO 8601" in p for p in problems)
    assert any("not one of healthy" in p for p in problems)
    assert any("version" in p for p in problems)


def test_non_utc_timestamp() -> None:
    body = {**HEALTHY, "timestamp": "2025-08-02T10:00:00+02:00"}
    assert app_health_problems(200, body, DEPS) == [
        "timestamp '2025-08-02T10:00:00+02:00' is not in UTC"
    ]


def test_non_object_body() -> None:
    assert "non-JSON-object" in app_health_problems(502, "Bad Gateway", DEPS)[0]


def test_log_problems_quote_offending_lines() -> None:
    lines = [
        '{"level": "INFO", "event": "request"}',
        '{"level": "ERROR", "event": "boom"}',
        '{"level": "INFO", "event": "Out of memory: killed"}',
        '{"level": "WARNING", "event": "the room is fine"}',
    ]
    assert log_problems(lines) == [lines[1], lines[2]]


def test_target_problems() -> None:
    targets = [
        Target(job="app", health="down", last_error="refused", scrape_url="http://x/api/metrics"),
        Target(job="prometheus", health="up", last_error="", scrape_url="http://y/metrics"),
    ]
    problems = target_problems(targets, ["app", "prometheus", "alertmanager"])
    assert "no scrape target for job 'alertmanager'" in problems
    assert "target app http://x/api/metrics is down: refused" in problems
    assert len(problems) == 2
