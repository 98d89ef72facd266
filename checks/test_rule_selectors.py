"""Every alert rule's selectors are live: each vector selector of its (loaded, time-scaled)
expression returned series in this session's stack, so a renamed metric or label is caught
even for an alert no scenario exercises. Selectors meant to be absent (``absent(...)``,
``... or vector(0)``, ``unless B``) are excepted: see :mod:`synthmon.selectors`.

One check per alert of the project's rule files, its id the alert's name. The window is this
session (on an external stack: ``--slo-lookback`` of real traffic), so series a scenario's
fault creates (5xx responses, a pushed run) count: these checks are ranked with the
destructive ones, after the scenarios, on the stack that took them (one xdist group).
"""

from __future__ import annotations

import time

import pytest

from synthmon import evidence
from synthmon.deadlines import production_alerts
from synthmon.errors import QueryError
from synthmon.plugin import settings_of
from synthmon.prom import Prometheus
from synthmon.selectors import LoadedRule, dead_selectors, wait_evaluated
from synthmon.settings import Settings
from synthmon.stack import Stack

# read-only, but after the faults that create fault-only series (see the module docstring)
pytestmark = pytest.mark.destructive
SESSION_START = time.time()  # collection: before the stack starts
HINT = (
    "(the window is this session: series only a fault creates, like 5xx responses, count once "
    "the alert's scenario has run in it)"
)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One check per alert of the project's rule files (with or without a scenario)."""
    if "rule_alert" in metafunc.fixturenames:
        project = settings_of(metafunc.config).project
        files = project.monitoring.rule_files() if project is not None else ()
        names = sorted(production_alerts(files))
        metafunc.parametrize("rule_alert", names, ids=names)


@pytest.fixture(scope="module")
def evaluated_rules(prom: Prometheus, stack: Stack) -> dict[str, LoadedRule]:
    """The loaded rules, once each was evaluated on what is scraped now (a recording rule's
    output is a series from then on): a bounded wait of one evaluation, plus a margin."""
    timeout = 3 * stack.evaluation_interval_s + 10
    try:
        return wait_evaluated(prom, since=time.time(), timeout_s=timeout)
    except QueryError as exc:
        pytest.fail(str(exc), pytrace=False)


def test_rule_selectors_return_series(
    rule_alert: str,
    prom: Prometheus,
    stack: Stack,
    synthmon_settings: Settings,
    evaluated_rules: dict[str, LoadedRule],
) -> None:
    rule = evaluated_rules.get(rule_alert)
    assert rule is not None, f"alert {rule_alert} is not loaded in Prometheus {prom.shown_url}"
    if stack.kind == "external":
        window = synthmon_settings.slo_lookback
    else:  # this session; the last scrape's samples are in once it is done
        window = time.time() - SESSION_START + stack.scrape_interval_s
    problems, excepted = dead_selectors(prom, rule_alert, rule.query, window)
    with evidence.step(f"Selectors of {rule_alert} return series"):
        evidence.attach_json(
            f"{rule_alert}: excepted selectors",
            [{"selector": s.promql, "why": s.excepted} for s in excepted],
        )
        assert not problems, "\n".join([*problems, HINT if stack.kind != "external" else ""])
