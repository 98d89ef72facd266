"""The runbook's alerts, end to end: fault → rule fires → Alertmanager routes → the right
receivers are notified → the fault is removed → resolved.

Each alert's cause is data in ``CAUSES`` (what the report's "Inject fault" step says, and the
fault itself); the scenario's shape and deadlines live in :class:`synthmon.scenario.AlertScenario`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import pytest

from synthmon.faults import Faults
from synthmon.scenario import AlertScenario

pytestmark = [pytest.mark.alert, pytest.mark.destructive]

Cause = Callable[[Faults], AbstractContextManager[object]]


@contextlib.contextmanager
def under_traffic(faults: Faults, chaos: dict[str, float], per_second: float) -> Iterator[None]:
    """App chaos on GET /api/tasks while a bounded stream of requests exercises it."""
    url = f"{faults.stack.app_url}/api/tasks"
    with (
        faults.project_fault("chaos", endpoint="/api/tasks", **chaos),
        faults.traffic(lambda c: c.get(url), per_second),
    ):
        yield


CAUSES: dict[str, tuple[str, Cause]] = {
    "ApplicationDown": ("stop the app", lambda f: f.stopped("app")),
    "DatabaseConnectionFailure": ("stop postgres", lambda f: f.stopped("postgres")),
    "HighErrorRate": (
        "50% errors on GET /api/tasks at 20 req/s",
        lambda f: under_traffic(f, {"error_rate": 0.5}, per_second=20),
    ),
    "HighResponseTime": (
        "+400 ms on GET /api/tasks at 20 req/s",
        lambda f: under_traffic(f, {"latency_ms": 400}, per_second=20),
    ),
    "GitHubAPIRateLimitLow": (
        "GitHub quota down to 10 requests",
        lambda f: f.project_fault("github_quota", remaining=10),
    ),
    "HighCPUUsage": (
        "burn 2 CPU cores in the app",
        lambda f: f.project_fault("chaos", cpu_burn=2.0),
    ),
    "HighMemoryUsage": (
        "hold 450 MB in the app",
        lambda f: f.project_fault("chaos", memory_ballast_mb=450),
    ),
    "HighFailedLoginRate": (
        "5 failed logins per second",
        lambda f: f.project_fault("failed_logins", per_second=5),
    ),
    "SyntheticRunFailed": (
        "push a failed synthetic run to the Pushgateway",
        lambda f: f.pushed(
            f"synthmon_run_success 0\nsynthmon_last_run_timestamp_seconds {time.time()}\n",
            job="synthmon",
            instance="scenario",
        ),
    ),
}


@pytest.mark.parametrize("alert", list(CAUSES))
def test_alert_fires_reaches_its_receivers_and_resolves(
    alert: str, alert_scenario: AlertScenario, faults: Faults
) -> None:
    cause, fault = CAUSES[alert]
    alert_scenario.run(alert, fault(faults), cause)


# Watchdog has a test of its own below; SyntheticRunMissing waits 26 h (26 min scaled) of
# silence, so its timing is proven by promtool's unit tests
# (monitoring/prometheus/tests/ of this example).
NO_SCENARIO = {"Watchdog", "SyntheticRunMissing"}


def test_every_runbook_alert_has_a_scenario(alert_scenario: AlertScenario) -> None:
    untested = set(alert_scenario.alerts) - set(CAUSES) - NO_SCENARIO
    assert not untested, f"alerts without a scenario: {sorted(untested)}"


def test_watchdog_fires_and_only_reaches_the_heartbeat(alert_scenario: AlertScenario) -> None:
    """The always-firing Watchdog proves the pipeline itself is alive, end to end."""
    rule = alert_scenario.alerts["Watchdog"]
    fired = alert_scenario.wait_firing(rule, 30, since=0.0)
    alert_scenario.check_notified(rule, fired, "firing", since=0.0, deadline_s=30)
    alert_scenario.check_nobody_else(rule, since=0.0, window_s=0)
