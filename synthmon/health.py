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

from synthmon.prom import Target

STATUSES = ("healthy", "degraded", "unhealthy")
LOG_ERROR = re.compile(r'"level"\s*:\s*"(ERROR|CRITICAL|FATAL)"|\b(ERROR|CRITICAL|FATAL)\b')
LOG_MEMORY = re.compile(r"out of memory|\bOOM\b|MemoryError|oom-kill", re.IGNORECASE)


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
    for dependency in dependencies:
        state = checks.get(dependency)
        if state != "healthy":
            problems.append(f"dependency {dependency} is {state or 'missing'}")
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
