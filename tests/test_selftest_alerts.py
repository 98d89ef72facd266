"""Self-tests of the alert checks: break the rule, the route or the silence on a live stack and
see the scenario fail with a message that says what went wrong."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
import yaml

from synthmon import drills
from synthmon.alerting import AlertmanagerClient
from synthmon.errors import UnexpectedEvent, WaitTimeout
from synthmon.faults import Faults
from synthmon.scenario import AlertScenario
from tests._example_faults import chaos, github_quota

pytestmark = pytest.mark.selftest


@contextlib.contextmanager
def errors_under_traffic(faults: Faults) -> Iterator[None]:
    url = f"{faults.stack.app_url}/api/tasks"
    with (
        chaos(faults, endpoint="/api/tasks", error_rate=0.5),
        faults.traffic(lambda c: c.get(url), 20),
    ):
        yield


def misspell_metric(text: str) -> str:
    assert "http_requests_total" in text
    return text.replace("http_requests_total", "http_request_total")


def route_p3_to_p2(text: str) -> str:
    config = yaml.safe_load(text)
    for route in config["route"]["routes"]:
        if route.get("matchers") == ['priority="P3"']:
            route["receiver"] = "slack-email-p2"
    return yaml.safe_dump(config, sort_keys=False)


def test_scenario_passes_on_an_intact_stack(alert_scenario: AlertScenario, faults: Faults) -> None:
    """The control: the same scenario the broken-rule test runs, on the real rule."""
    alert_scenario.run("HighErrorRate", errors_under_traffic(faults))


def test_rule_with_wrong_metric_name_fails_the_scenario(
    alert_scenario: AlertScenario, faults: Faults
) -> None:
    with (
        faults.reconfigured("prometheus", "rules/app.yml", misspell_metric),
        pytest.raises(AssertionError) as caught,
    ):
        alert_scenario.run("HighErrorRate", errors_under_traffic(faults))
    message = str(caught.value)
    assert "HighErrorRate did not fire within" in message
    assert "http_request_total" in message and "returned nothing" in message
    assert "sinks received:" in message


def test_route_to_the_wrong_receiver_fails_the_routing_assertion(
    alert_scenario: AlertScenario, faults: Faults
) -> None:
    """The live Alertmanager drifts from the project's alertmanager.yml (P3 sent to P2's
    receiver): the destination the project's tree names never gets it, and the failure lists
    where it went instead."""
    with (
        faults.reconfigured("alertmanager", "alertmanager.yml", route_p3_to_p2),
        pytest.raises(WaitTimeout) as caught,
    ):
        alert_scenario.run("GitHubAPIRateLimitLow", github_quota(faults, remaining=10))
    message = str(caught.value)
    assert "firing GitHubAPIRateLimitLow at email-p3/email[0]" in message, message
    assert "GitHubAPIRateLimitLow to slack-email-p2/slack[0]" in message, message


def test_silence_that_does_not_match_fails_the_maintenance_check(
    alert_scenario: AlertScenario, alertmanager: AlertmanagerClient, faults: Faults
) -> None:
    with pytest.raises(UnexpectedEvent) as caught:
        drills.maintenance(
            alert_scenario,
            "GitHubAPIRateLimitLow",
            github_quota(faults, remaining=10),
            alertmanager,
            matchers={"alertname": "SomeOtherAlert"},
        )
    message = str(caught.value)
    assert "expected no notification of GitHubAPIRateLimitLow while silence" in message
