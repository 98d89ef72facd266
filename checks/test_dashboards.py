"""Dashboards as code (the project's Grafana dashboards, ``--dashboards``): every panel's PromQL
runs against the live Prometheus over the dashboard's time range and must show data. One check per
panel query, named after the panel, so a broken panel is found before an incident needs it."""

from __future__ import annotations

import pytest

from synthmon.dashboards import PanelQuery, panel_queries, problem
from synthmon.errors import ConfigError
from synthmon.plugin import settings_of
from synthmon.prom import Prometheus
from synthmon.stack import Stack

pytestmark = pytest.mark.dashboards


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "panel" not in metafunc.fixturenames:
        return
    settings = settings_of(metafunc.config)
    if settings.dashboards is None:
        why = "not configured: the project names no Grafana dashboards (monitoring.dashboards)"
        metafunc.parametrize("panel", [pytest.param(None, marks=pytest.mark.skip(reason=why))])
        return
    try:
        queries = panel_queries(settings.dashboards, settings.dashboard_rate_interval)
    except ConfigError as exc:
        pytest.fail(f"{settings.where('dashboards')}: {exc}", pytrace=False)
    metafunc.parametrize("panel", queries, ids=[q.id for q in queries])


def test_panel_query_shows_data(panel: PanelQuery, prom: Prometheus, stack: Stack) -> None:
    # a stack started moments ago may lack the two samples rate() needs: a few scrapes' grace
    found = problem(prom, panel, settle_s=3 * stack.scrape_interval_s)
    assert found is None, found
