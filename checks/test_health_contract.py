"""A health endpoint that lies is caught: each dependency the project's health contract names
is stopped in turn, its entry must turn unhealthy and the overall status and HTTP code must
follow the contract; once it is back, the endpoint must say healthy again.

Only read while everything is up, a ``/health`` that always answers healthy passes every
check; this one stops what it reports on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from synthmon import evidence, progress
from synthmon.errors import WaitTimeout
from synthmon.faults import Faults
from synthmon.health import HealthContract, judge, judge_down
from synthmon.plugin import settings_of
from synthmon.project import Project
from synthmon.stack import Stack
from synthmon.waiting import NotYet, wait_until

pytestmark = [pytest.mark.health, pytest.mark.destructive]

# the reference app probes live on every call, each probe bounded by 1 s
DOWN_DEADLINE_S = 20.0
# a restarted dependency is ready when the fault returns; the service may take a few probes
BACK_DEADLINE_S = 60.0


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "dependency" not in metafunc.fixturenames:
        return
    project = settings_of(metafunc.config).project
    contract = project.health if project is not None else None
    if contract is None or not contract.entries:
        skip = pytest.mark.skip(reason="not configured: the project declares no health contract")
        metafunc.parametrize("dependency", [pytest.param("none", marks=skip)], ids=["none"])
        return
    metafunc.parametrize("dependency", list(contract.entries), ids=list(contract.entries))


def _contract(project: Project) -> HealthContract:
    assert project.health is not None, f"project {project.name}: no health contract"
    return project.health


def _follows(
    http: httpx.Client,
    url: str,
    judged: Callable[[int, Any], list[str]],
    what: str,
    deadline_s: float,
) -> str | None:
    """Poll ``url`` until ``judged`` finds nothing wrong; on timeout, what was wrong last and
    the last answer (None: it followed). The last exchange is attached as evidence."""
    last: list[httpx.Response] = []

    def probe() -> bool | NotYet:
        try:
            response = http.get(url)
        except httpx.HTTPError as exc:
            return NotYet(f"GET {url} failed: {type(exc).__name__}: {exc}")
        last[:] = [response]
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text
        problems = judged(response.status_code, body)
        if not problems:
            return True
        answer = f"last answer: HTTP {response.status_code} {response.text[:500]}"
        return NotYet("; ".join(problems) + "; " + answer)

    progress.waiting(what, deadline_s)
    try:
        wait_until(probe, timeout_s=deadline_s, what=what)
    except WaitTimeout as exc:
        return str(exc)
    finally:
        for response in last:
            evidence.attach_exchange(response, f"last GET {response.request.url.path}")
    return None


def test_health_follows_each_dependency_down_and_back(
    dependency: str, stack: Stack, project: Project, http: httpx.Client, faults: Faults
) -> None:
    contract = _contract(project)
    url = f"{stack.app_url}{contract.path}"
    entry = contract.entry(dependency)
    stop = f"Stop {dependency}: {contract.path} must report {entry.path} unhealthy"
    with evidence.step(stop), faults.stopped(dependency):
        failure = _follows(
            http,
            url,
            lambda code, body: judge_down(contract, dependency, code, body, how="stopped"),
            f"{contract.path} to report {dependency} down",
            DOWN_DEADLINE_S,
        )
        assert failure is None, f"{dependency} stopped: {failure}"
    with evidence.step(f"{dependency} is back: {contract.path} must report healthy again"):
        failure = _follows(
            http,
            url,
            lambda code, body: judge(contract, code, body),
            f"{contract.path} to report healthy after {dependency} restarted",
            BACK_DEADLINE_S,
        )
        assert failure is None, f"{dependency} restarted: {failure}"
