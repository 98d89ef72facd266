"""The project's alerts, end to end: fault → rule fires → Alertmanager routes → the right
receivers are notified → the fault is removed → resolved.

Each alert's cause is data in the project file's ``scenarios:`` (what the report's "Inject
fault" step says, and the faults, applied together by :meth:`synthmon.faults.Faults.applied`);
the scenario's shape and deadlines live in :class:`synthmon.scenario.AlertScenario`.
"""

from __future__ import annotations

import pytest

from synthmon import coverage, delivery, drills, evidence
from synthmon.amconfig.policy import Inhibition
from synthmon.faults import Faults
from synthmon.plugin import settings_of
from synthmon.project import Project, TrafficFault
from synthmon.scenario import AlertScenario

pytestmark = [pytest.mark.alert, pytest.mark.destructive]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One test per scenario of the project, its id the scenario's key (the alert's name unless
    the alert has two; stable in JUnit)."""
    if "scenario_alert" in metafunc.fixturenames:
        project = settings_of(metafunc.config).project
        scenarios = project.scenarios if project is not None else ()
        params = [
            pytest.param(
                s.id,
                id=s.id,
                marks=[pytest.mark.xfail(strict=True, reason=s.known_failure)]
                if s.known_failure
                else [],
            )
            for s in scenarios
        ]
        metafunc.parametrize("scenario_alert", params)
    if "inhibition" in metafunc.fixturenames:
        project = settings_of(metafunc.config).project
        found = project.policy.inhibitions if project and project.policy else ()
        metafunc.parametrize(
            "inhibition", found, ids=[f"{i.source}-inhibits-{i.target}" for i in found]
        )
    if "always_firing" in metafunc.fixturenames:
        project = settings_of(metafunc.config).project
        policy = project.policy if project is not None else None
        names = sorted(policy.always_firing) if policy is not None else []
        metafunc.parametrize("always_firing", names, ids=names)


def test_alert_fires_reaches_its_receivers_and_resolves(
    scenario_alert: str,
    project: Project,
    alert_scenario: AlertScenario,
    faults: Faults,
    request: pytest.FixtureRequest,
) -> None:
    scenario = project.scenario(scenario_alert)
    traffic = [f for f in scenario.faults if isinstance(f, TrafficFault)]
    try:
        alert_scenario.run(
            scenario.alert, faults.applied(scenario.faults), scenario.cause,
            investigate=scenario.investigate,
            baseline=faults.applied(traffic) if scenario.investigate and traffic else None,
        )  # fmt: skip
    finally:  # the delivery report shows a failed scenario too
        record(request, alert_scenario)


def record(request: pytest.FixtureRequest, scenario: AlertScenario) -> None:
    """The scenario's deliveries and coverage as JUnit properties (what travels across xdist
    workers to the summary), one readable property per destination, and in the Allure report."""
    props = request.node.user_properties
    props.append((delivery.PROPERTY, delivery.encode(scenario.deliveries)))
    props += [(f"delivery {d.status} {d.destination}", d.line()) for d in scenario.deliveries]
    if scenario.exercised is not None:
        props.append((coverage.PROPERTY, scenario.exercised.encode()))
    if scenario.deliveries:
        evidence.attach_text("delivery and time to page", delivery.report_text(scenario.deliveries))
    if scenario.attribution is not None:  # the span the slowest traces blame (or why none)
        props.append(("latency attribution", scenario.attribution.verdict()))
        scenario.attribution = None  # a drill on the same session fixture is not its owner


def test_every_alert_has_a_scenario(project: Project, alert_scenario: AlertScenario) -> None:
    """Each alert of the rules has a scenario, is always firing, or says why it has none."""
    covered = {s.alert for s in project.scenarios} | set(project.no_scenario)
    untested = set(alert_scenario.alerts) - covered - alert_scenario.always_firing
    assert not untested, (
        f"alerts without a scenario (add one to scenarios:, or a reason to no_scenario: of "
        f"{project.source}): {sorted(untested)}"
    )


def test_always_firing_alert_fires_and_only_reaches_its_receivers(
    always_firing: str, alert_scenario: AlertScenario, request: pytest.FixtureRequest
) -> None:
    """An always-firing alert (a Watchdog) proves the pipeline itself is alive, end to end."""
    try:
        alert_scenario.run_always_firing(always_firing)
    finally:
        record(request, alert_scenario)


def test_inhibit_rule_holds_its_target_back(
    inhibition: Inhibition, alert_scenario: AlertScenario, request: pytest.FixtureRequest
) -> None:
    """The project's declared inhibition holds in the live Alertmanager: its target is held
    back (``inhibitedBy``) and nobody is notified of it while the source fires."""
    try:
        drills.inhibition(alert_scenario, inhibition)
    finally:
        record(request, alert_scenario)
