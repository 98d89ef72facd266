"""Self-tests of the latency investigation on a live stack (issue 15 part 4): the example's
PostgreSQL-latency scenario told to expect the Redis span fails naming the span that does carry
the latency; latency the app adds in its own handler (its chaos API) fails saying no child
span explains it. The real scenarios in checks/test_alerts.py are the controls."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import replace

import pytest

from synthmon.faults import Faults
from synthmon.project import Project, TrafficFault
from synthmon.scenario import AlertScenario
from synthmon.traces.expect import SpanExpectation
from tests._example_faults import chaos

pytestmark = pytest.mark.selftest


@contextlib.contextmanager
def together(*faults: AbstractContextManager[object]) -> Iterator[None]:
    with contextlib.ExitStack() as held:
        for fault in faults:
            held.enter_context(fault)
        yield


def test_expecting_redis_on_the_postgres_latency_fails_naming_postgres(
    project: Project, alert_scenario: AlertScenario, faults: Faults
) -> None:
    scenario = project.scenario("HighResponseTime")
    assert scenario.investigate is not None
    wrong = replace(scenario.investigate, span=SpanExpectation(attributes={"db.system": "redis"}))
    traffic = [f for f in scenario.faults if isinstance(f, TrafficFault)]
    with pytest.raises(AssertionError) as caught:
        alert_scenario.run(
            scenario.alert, faults.applied(scenario.faults), scenario.cause,
            investigate=wrong, baseline=faults.applied(traffic),
        )  # fmt: skip
    message = str(caught.value)
    assert message.startswith(
        "GET /api/tasks/{task_id}: expected a span {db.system=redis} to carry the added "
        "latency, but `manager-app client [postgresql]` does ("
    ), message
    assert alert_scenario.attribution is not None and not alert_scenario.attribution.holds


def test_latency_in_the_handler_itself_fails_saying_no_child_explains_it(
    project: Project, alert_scenario: AlertScenario, faults: Faults
) -> None:
    """The same alert and traffic, the +300 ms added by the app's chaos middleware inside the
    server span instead of on the PostgreSQL link: the traces cannot blame the database."""
    scenario = project.scenario("HighResponseTime")
    traffic = [f for f in scenario.faults if isinstance(f, TrafficFault)]
    slow_handler = chaos(faults, endpoint="/api/tasks/{task_id}", latency_ms=300)
    with pytest.raises(AssertionError) as caught:
        alert_scenario.run(
            scenario.alert, together(slow_handler, faults.applied(traffic)),
            "+300 ms in the app's handler", investigate=scenario.investigate,
            baseline=faults.applied(traffic),
        )  # fmt: skip
    message = str(caught.value)
    assert message.startswith(
        "GET /api/tasks/{task_id}: the added latency is in the endpoint's own span "
        "`manager-app server GET /api/tasks/{task_id}` ("
    ), message
    assert "no child span explains it, the traces do not show where the time went" in message
