"""The runbook's health checks as plain functions, so checks and self-tests share one judge.

Each ``*_problems`` function is pure: it takes what was observed and returns what is wrong,
one human sentence per problem; an empty list means healthy.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import httpx

from synthmon.health_contract import (
    MISSING,
    HealthContract,
    HealthEntry,
    JsonScalar,
    at_path,
    lookup,
    one_of,
    show,
)
from synthmon.logstore.model import LogLine
from synthmon.prom import Target

STATUSES = ("healthy", "degraded", "unhealthy")
LOG_ERROR = re.compile(r'"level"\s*:\s*"(ERROR|CRITICAL|FATAL)"|\b(ERROR|CRITICAL|FATAL)\b')
LOG_MEMORY = re.compile(r"out of memory|\bOOM\b|MemoryError|oom-kill", re.IGNORECASE)
#: a log store's level of the runbook's error lines (OTLP's ERROR..FATAL4 too)
LOG_LEVEL = re.compile(r"^(ERROR|CRITICAL|FATAL)\d?$", re.IGNORECASE)
OTLP_ERROR_SEVERITY = 17  # severity_number of ERROR; FATAL is 21..24


def app_health_problems(status_code: int, body: Any, dependencies: Iterable[str]) -> list[str]:
    """What is wrong with an app's ``/health`` answer against the runbook's shape;
    ``dependencies``: the entries of its ``checks`` (the project's ``health_checks``)."""
    if not isinstance(body, Mapping):
        return [f"/health answered HTTP {status_code} with a non-JSON-object body: {body!r:.200}"]
    problems = []
    checks = body.get("checks")
    if not isinstance(checks, Mapping):
        problems.append(f"/health has no 'checks' object (got {checks!r})")
        checks = {}
    named = list(dependencies)
    for dependency in named:
        state = checks.get(dependency)
        if state != "healthy":
            problems.append(f"dependency {dependency} is {state or 'missing'}")
    for entry, state in checks.items():  # what the app reports beyond the project's list
        if entry not in named and state != "healthy":
            problems.append(f"its check {entry} is {state!r}")
    if body.get("status") != "healthy":
        problems.append(f"status is {body.get('status')!r}, expected 'healthy'")
    if status_code != 200:
        problems.append(f"HTTP {status_code}, expected 200")
    problems.extend(shape_problems(body))
    return problems


def shape_problems(body: Mapping[str, Any]) -> list[str]:
    """Shape only (healthy or not): status, ISO 8601 UTC timestamp, version, three checks."""
    problems = []
    if body.get("status") not in STATUSES:
        problems.append(f"status {body.get('status')!r} is not one of {', '.join(STATUSES)}")
    stamp = body.get("timestamp")
    try:
        parsed = datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
        if parsed.utcoffset() is None or parsed.utcoffset().total_seconds() != 0:  # type: ignore[union-attr]
            problems.append(f"timestamp {stamp!r} is not in UTC")
    except ValueError:
        problems.append(f"timestamp {stamp!r} is not ISO 8601")
    if not isinstance(body.get("version"), str) or not body.get("version"):
        problems.append(f"version {body.get('version')!r} is not a non-empty string")
    return problems


def log_problems(lines: Iterable[str], limit: int = 20) -> list[str]:
    """The runbook's log analysis: ERROR/CRITICAL/FATAL lines and out-of-memory mentions."""
    found = [line.rstrip() for line in lines if LOG_ERROR.search(line) or LOG_MEMORY.search(line)]
    return found[-limit:]


def line_problem(line: LogLine) -> bool:
    """Whether a log store's line is one the runbook's log analysis looks for: its level, an
    OTLP severity of ERROR or above, or the file patterns in its text and fields."""
    number = line.fields.get("severity_number", "")
    if LOG_LEVEL.match(line.level) or (number.isdigit() and int(number) >= OTLP_ERROR_SEVERITY):
        return True
    shown = line.shown(10_000)
    return bool(LOG_ERROR.search(shown) or LOG_MEMORY.search(shown))


def target_problems(targets: Iterable[Target], jobs: Iterable[str]) -> list[str]:
    """Every expected job has a target and every target is up (with its last scrape error)."""
    targets = list(targets)
    seen = {t.job for t in targets}
    problems: list[str] = []
    problems.extend(f"no scrape target for job {job!r}" for job in jobs if job not in seen)
    problems.extend(
        f"target {t.job} {t.scrape_url} is {t.health}: {t.last_error or 'no error text'}"
        for t in targets
        if t.health != "up"
    )
    return problems


def fetch(http: httpx.Client, url: str, what: str) -> httpx.Response:
    """GET ``url``; an unreachable component fails as an assertion naming it, not a traceback."""
    try:
        return http.get(url)
    except httpx.HTTPError as exc:
        raise AssertionError(f"{what}: GET {url} failed: {type(exc).__name__}: {exc}") from None


__all__ = [
    "HealthContract", "HealthEntry", "JsonScalar", "app_health_problems", "fetch", "judge",
    "judge_down", "line_problem", "log_problems", "shape_problems", "target_problems",
]  # fmt: skip


def judge(contract: HealthContract, status_code: int, body: Any) -> list[str]:
    """What is wrong with a health answer while every dependency is up; one line each."""
    where = contract.path
    if not isinstance(body, Mapping):
        return [f"{where}: HTTP {status_code} with a non-JSON-object body: {body!r:.200}"]
    problems = []
    for dependency, entry in contract.entries.items():
        value = lookup(body, entry.path)
        if not one_of(value, entry.healthy):
            problems.append(
                f"{dependency}: {where} says {at_path(entry.path, value)}, "
                f"expected {show(entry.healthy)}"
            )
    if contract.status_field is not None:
        value = lookup(body, contract.status_field)
        if not one_of(value, contract.healthy_values):
            problems.append(
                f"{where}: {at_path(contract.status_field, value)}, "
                f"expected {show(contract.healthy_values)}"
            )
    if status_code != contract.healthy_status:
        problems.append(f"{where}: HTTP {status_code}, expected {contract.healthy_status}")
    return problems + _field_problems(contract, body)


def judge_down(
    contract: HealthContract, dependency: str, status_code: int, body: Any, *, how: str = "down"
) -> list[str]:
    """What is wrong with a health answer while ``dependency`` (only) is down (``how``:
    "stopped", "paused"...): its entry must say so, the overall status and HTTP code must
    follow the contract, and the other entries must still say healthy. One line each, every
    one naming ``dependency``."""
    entry = contract.entry(dependency)
    where, state = contract.path, f"while {dependency} is {how}"
    if not isinstance(body, Mapping):
        return [
            f"{dependency}: {where} answered HTTP {status_code} {state} with a non-JSON-object "
            f"body: {body!r:.200}"
        ]
    problems = []
    value = lookup(body, entry.path)
    if value is MISSING:
        problems.append(f"{dependency}: {where} has no {entry.path} {state}")
    elif one_of(value, entry.healthy):
        problems.append(f"{dependency}: {where} still says {entry.path}={value!r} {state}")
    if contract.status_field is not None:
        expected = entry.down_status or contract.unhealthy_values
        overall = lookup(body, contract.status_field)
        if not one_of(overall, expected):
            problems.append(
                f"{dependency}: {where} says {at_path(contract.status_field, overall)} {state}, "
                f"expected {show(expected)}"
            )
    if status_code not in contract.unhealthy_codes:
        problems.append(
            f"{dependency}: {where} answered HTTP {status_code} {state}, "
            f"expected {show(contract.unhealthy_codes)}"
        )
    for other, other_entry in contract.entries.items():
        seen = lookup(body, other_entry.path)
        if other != dependency and not one_of(seen, other_entry.healthy):
            problems.append(
                f"{dependency}: {where} says {at_path(other_entry.path, seen)} {state} though "
                f"{other} is up, expected {show(other_entry.healthy)}"
            )
    return problems + [f"{dependency}: {p}" for p in _field_problems(contract, body)]


def _field_problems(contract: HealthContract, body: Mapping[str, Any]) -> list[str]:
    problems = []
    if contract.timestamp_field is not None:
        stamp = lookup(body, contract.timestamp_field)
        problem = _utc_problem(stamp)
        if problem:
            problems.append(f"{contract.path}: {contract.timestamp_field} {problem}")
    if contract.version_field is not None:
        version = lookup(body, contract.version_field)
        if not isinstance(version, str) or not version:
            shown = "missing" if version is MISSING else repr(version)
            problems.append(
                f"{contract.path}: {contract.version_field} {shown} is not a non-empty string"
            )
    return problems


def _utc_problem(stamp: object) -> str | None:
    """Why ``stamp`` is not an ISO 8601 UTC timestamp (None: it is)."""
    if stamp is MISSING:
        return "is missing"
    try:
        parsed = datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
    except ValueError:
        return f"{stamp!r} is not ISO 8601"
    offset = parsed.utcoffset()
    if offset is None or offset.total_seconds() != 0:
        return f"{stamp!r} is not in UTC"
    return None
