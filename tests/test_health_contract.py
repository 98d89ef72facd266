"""The health contract's judges, with no I/O: the reference example's and linkcheck's shapes,
and a lying answer that says healthy while a dependency is down."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from synthmon.errors import ConfigError
from synthmon.health import HealthContract, HealthEntry, judge, judge_down
from synthmon.health_contract import MISSING, lookup

MANAGER = HealthContract(
    "/health",
    entries={
        "postgres": HealthEntry("checks.database", down_status=frozenset({"unhealthy"})),
        "redis": HealthEntry("checks.redis", down_status=frozenset({"degraded"})),
        "github": HealthEntry("checks.github_api", down_status=frozenset({"degraded"})),
    },
    timestamp_field="timestamp",
    version_field="version",
)
LINKCHECK = HealthContract(
    "/healthz",
    entries={
        "redis": HealthEntry("dependencies.redis.ok", healthy=frozenset({True})),
        "upstream": HealthEntry("dependencies.upstream.ok", healthy=frozenset({True})),
    },
    healthy_values=frozenset({"ok"}),
    unhealthy_values=frozenset({"degraded", "down"}),
)


def manager(status: str = "healthy", **checks: str) -> dict[str, Any]:
    every = {"database": "healthy", "redis": "healthy", "github_api": "healthy"}
    return {
        "status": status,
        "timestamp": "2025-08-02T10:00:00Z",
        "version": "0.1.0",
        "checks": {**every, **checks},
    }


def linkcheck(status: str = "ok", **ok: bool) -> dict[str, Any]:
    every = {"redis": True, "upstream": True, **ok}
    return {"status": status, "dependencies": {k: {"ok": v} for k, v in every.items()}}


def test_everything_up_is_healthy() -> None:
    assert judge(MANAGER, 200, manager()) == []
    assert judge(LINKCHECK, 200, linkcheck()) == []


def test_each_dependency_down_as_the_contract_says() -> None:
    assert judge_down(MANAGER, "postgres", 503, manager("unhealthy", database="unhealthy")) == []
    assert judge_down(MANAGER, "redis", 503, manager("degraded", redis="unhealthy")) == []
    assert judge_down(MANAGER, "github", 503, manager("degraded", github_api="unhealthy")) == []
    assert judge_down(LINKCHECK, "redis", 503, linkcheck("degraded", redis=False)) == []


def test_a_lying_answer_is_named_after_the_dependency() -> None:
    problems = judge_down(MANAGER, "postgres", 200, manager(), how="stopped")
    assert problems == [
        "postgres: /health still says checks.database='healthy' while postgres is stopped",
        "postgres: /health says status='healthy' while postgres is stopped, expected 'unhealthy'",
        "postgres: /health answered HTTP 200 while postgres is stopped, expected 503",
    ]
    lying = judge_down(LINKCHECK, "upstream", 200, linkcheck(), how="stopped")
    assert lying[0] == (
        "upstream: /healthz still says dependencies.upstream.ok=True while upstream is stopped"
    )
    assert len(lying) == 3
    assert all(p.startswith("upstream: ") for p in lying)


def test_the_overall_status_must_follow_the_entry() -> None:
    # redis down is "degraded" by the contract; "unhealthy" overstates it
    assert judge_down(MANAGER, "redis", 503, manager("unhealthy", redis="unhealthy")) == [
        "redis: /health says status='unhealthy' while redis is down, expected 'degraded'"
    ]
    # the entry says down but the code and status do not follow
    assert judge_down(LINKCHECK, "redis", 200, linkcheck("ok", redis=False)) == [
        "redis: /healthz says status='ok' while redis is down, expected 'degraded' or 'down'",
        "redis: /healthz answered HTTP 200 while redis is down, expected 503",
    ]


def test_blaming_the_wrong_dependency_is_a_problem() -> None:
    body = manager("unhealthy", database="unhealthy", redis="unhealthy")
    assert judge_down(MANAGER, "postgres", 503, body) == [
        "postgres: /health says checks.redis='unhealthy' while postgres is down though redis "
        "is up, expected 'healthy'"
    ]


def test_a_missing_entry_is_not_a_down_one() -> None:
    body = manager("unhealthy")
    del body["checks"]["database"]
    assert judge_down(MANAGER, "postgres", 503, body) == [
        "postgres: /health has no checks.database while postgres is down"
    ]
    assert judge(MANAGER, 503, body)[0] == (
        "postgres: /health says no checks.database, expected 'healthy'"
    )


def test_up_problems_name_each_dependency_and_the_code() -> None:
    problems = judge(MANAGER, 503, manager("degraded", redis="unhealthy"))
    assert problems == [
        "redis: /health says checks.redis='unhealthy', expected 'healthy'",
        "/health: status='degraded', expected 'healthy'",
        "/health: HTTP 503, expected 200",
    ]


def test_types_are_compared_too() -> None:
    # 1 is not True: an entry answering 1 is not the contract's `ok: true`
    body = linkcheck()
    body["dependencies"]["redis"]["ok"] = 1
    assert judge(LINKCHECK, 200, body) == [
        "redis: /healthz says dependencies.redis.ok=1, expected True"
    ]


def test_timestamp_and_version_fields() -> None:
    body = {**manager(), "timestamp": "2025-08-02T10:00:00+02:00", "version": ""}
    assert judge(MANAGER, 200, body) == [
        "/health: timestamp '2025-08-02T10:00:00+02:00' is not in UTC",
        "/health: version '' is not a non-empty string",
    ]
    del body["timestamp"]
    assert "/health: timestamp is missing" in judge(MANAGER, 200, body)


def test_a_non_object_body() -> None:
    assert judge(MANAGER, 502, "Bad Gateway") == [
        "/health: HTTP 502 with a non-JSON-object body: 'Bad Gateway'"
    ]
    assert judge_down(MANAGER, "redis", 502, None)[0].startswith(
        "redis: /health answered HTTP 502 while redis is down with a non-JSON-object body"
    )


def test_no_status_field_leaves_the_code() -> None:
    contract = HealthContract("/up", entries={"db": HealthEntry("db")}, status_field=None)
    assert judge(contract, 200, {"db": "healthy"}) == []
    assert judge_down(contract, "db", 503, {"db": "gone"}) == []
    assert judge_down(contract, "db", 500, {"db": "gone"}) == [
        "db: /up answered HTTP 500 while db is down, expected 503"
    ]


def test_lookup() -> None:
    assert lookup({"a": {"b": False}}, "a.b") is False
    assert lookup({"a": {"b": 1}}, "a.c") is MISSING
    assert lookup({"a": 1}, "a.b") is MISSING


def test_values_from_yaml_lists() -> None:
    contract = HealthContract(
        "/h",
        unhealthy_status=[500, 503],  # type: ignore[arg-type]
        healthy_values="up",  # type: ignore[arg-type]
        unhealthy_values=["down"],  # type: ignore[arg-type]
        entries={"db": HealthEntry("db", healthy=True)},  # type: ignore[arg-type]
    )
    assert contract.unhealthy_codes == {500, 503}
    assert contract.healthy_values == {"up"}
    assert contract.entries["db"].healthy == {True}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"path": "health"}, "must start with '/'"),
        ({"path": "/h", "healthy_status": 503}, "HTTP 503 is both healthy and unhealthy"),
        ({"path": "/h", "unhealthy_values": frozenset({"healthy"})}, "is both healthy"),
        ({"path": "/h", "status_field": "a..b"}, "not a dotted JSON path"),
        ({"path": "/h", "unhealthy_status": "503"}, "HTTP status code"),
        ({"path": "/h", "entries": {"db": "checks.db"}}, "not a HealthEntry"),
    ],
)
def test_bad_contracts(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        HealthContract(**kwargs)


def test_unknown_dependency() -> None:
    with pytest.raises(ConfigError, match="no entry for 'kafka'"):
        judge_down(MANAGER, "kafka", 503, manager())


def test_the_reference_example_declares_its_contract() -> None:
    from synthmon.projectfile import load_project

    project = load_project(Path(__file__).parents[1] / "examples" / "manager-app")
    assert project.health is not None
    assert list(project.health.entries) == ["postgres", "redis", "github"]


@pytest.mark.parametrize("dependency", ["kafka", "app"])
def test_a_project_entry_must_name_a_dependency(dependency: str) -> None:
    from synthmon.projectfile import load_project

    project = load_project(Path(__file__).parents[1] / "examples" / "manager-app")
    health = HealthContract("/health", entries={dependency: HealthEntry("checks.x")})
    with pytest.raises(ConfigError, match=f"health entry '{dependency}' names no dependency"):
        dataclasses.replace(project, health=health)
