"""The runbook's planned maintenance: a silence created through Alertmanager API v2 holds back
the notifications of an alert that still fires in Prometheus; expiring it delivers them."""

from __future__ import annotations

import pytest

from synthmon.alerting import AlertmanagerClient
from synthmon.faults import Faults
from synthmon.scenario import AlertScenario

pytestmark = [pytest.mark.alert, pytest.mark.destructive]


def test_maintenance_silence_suppresses_then_delivers(
    alert_scenario: AlertScenario, alertmanager: AlertmanagerClient, faults: Faults
) -> None:
    alert_scenario.run_silenced(
        "GitHubAPIRateLimitLow",
        faults.project_fault("github_quota", remaining=10),
        alertmanager,
        matchers={"alertname": "GitHubAPIRateLimitLow"},
        cause="GitHub quota down to 10 requests",
    )
