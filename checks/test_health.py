"""The runbook's "Health Checks", against the stack under test ("Log Analysis": test_logs.py).

Each check is one Allure step named as in the runbook, with the exchange or data it judged.
"""

from __future__ import annotations

import dataclasses

import httpx
import pytest

from synthmon import evidence
from synthmon.health import app_health_problems, fetch, judge, target_problems
from synthmon.project import Project
from synthmon.prom import Prometheus, wait_until
from synthmon.settings import Settings
from synthmon.stack import Stack

pytestmark = pytest.mark.health


def test_app_health_reports_every_dependency_healthy(
    stack: Stack, project: Project, http: httpx.Client
) -> None:
    path = project.health.path if project.health else project.health_path
    with evidence.step(f"Check application health: GET {path}"):
        response = fetch(http, f"{stack.app_url}{path}", project.target)
        evidence.attach_exchange(response)
        try:
            body = response.json()
        except ValueError:
            body = response.text
        if project.health is not None:  # the project's contract
            problems = judge(project.health, response.status_code, body)
        else:  # the runbook's shape, with the project's health_checks
            problems = app_health_problems(response.status_code, body, project.health_checks)
        assert not problems, f"{stack.app_url}{path}: " + "; ".join(problems)


@pytest.mark.parametrize("path", ["/-/healthy", "/-/ready"])
def test_prometheus_is_healthy_and_ready(stack: Stack, http: httpx.Client, path: str) -> None:
    with evidence.step(f"Check Prometheus: GET {path}"):
        response = fetch(http, f"{stack.prometheus_url}{path}", "Prometheus")
        evidence.attach_exchange(response)
        assert response.status_code == 200, f"Prometheus {path}: HTTP {response.status_code}"


def test_alertmanager_is_healthy(stack: Stack, http: httpx.Client) -> None:
    if stack.alertmanager_url is None:
        pytest.skip("not configured: no Alertmanager URL")
    with evidence.step("Check Alertmanager: GET /-/healthy"):
        response = fetch(http, f"{stack.alertmanager_url}/-/healthy", "Alertmanager")
        evidence.attach_exchange(response)
        assert response.status_code == 200, f"Alertmanager /-/healthy: HTTP {response.status_code}"


def test_every_scrape_target_is_up(stack: Stack, project: Project, prom: Prometheus) -> None:
    jobs = project.scrape_jobs if stack.runner is not None else ()

    def targets() -> None:
        evidence.attach_json("scrape targets", [dataclasses.asdict(t) for t in prom.targets()])

    with evidence.step(f"Check every scrape target is up ({', '.join(jobs) or 'any'})", targets):
        wait_until(
            lambda: not target_problems(prom.targets(), jobs),
            deadline_s=10 * stack.scrape_interval_s,
            describe_fn=lambda: "; ".join(target_problems(prom.targets(), jobs)),
        )


# the OpenTelemetry Collector's health check (the runbook's curl :13133/) is in
# checks/test_traces.py (test_collector_is_healthy, marked health and traces)
@pytest.mark.parametrize(("setting", "path"), [("grafana_url", "/api/health")])
def test_optional_component_is_healthy(
    synthmon_settings: Settings, http: httpx.Client, setting: str, path: str
) -> None:
    base = getattr(synthmon_settings, setting)
    if base is None:
        pytest.skip(f"not configured: set {synthmon_settings.where(setting)}")
    name = {"grafana_url": "Grafana"}[setting]
    with evidence.step(f"Check {name}: GET {path}"):
        response = fetch(http, f"{base}{path}", setting.removesuffix("_url"))
        evidence.attach_exchange(response)
        assert response.status_code == 200, f"{base}{path}: HTTP {response.status_code}"
