"""The runbook's planned maintenance: a silence created through Alertmanager API v2 holds back
the notifications of an alert that still fires in Prometheus; expiring it delivers them."""

from __future__ import annotations

import pytest

from synthmon import drills
from synthmon.alerting import AlertmanagerClient
from synthmon.faults import Faults
from synthmon.project import Project
from synthmon.scenario import AlertScenario

pytestmark = [pytest.mark.alert, pytest.mark.destructive]


def test_maintenance_silence_suppresses_then_delivers(
    alert_scenario: AlertScenario,
    alertmanager: AlertmanagerClient,
    faults: Faults,
    project: Project,
) -> None:
    scenario = project.scenario("GitHubAPIRateLimitLow")  # its fault in synthmon.yaml
    drills.maintenance(
        alert_scenario,
        scenario.alert,
        faults.applied(scenario.faults),
        alertmanager,
        matchers={"alertname": scenario.alert},
        cause=scenario.cause,
    )
