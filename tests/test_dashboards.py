"""Dashboards as code: the provisioning files and the app-overview dashboard are what Grafana
expects, variables are filled in as Grafana would, every panel shows data on the live stack,
and a broken panel fails checks/test_dashboards.py naming the panel and why."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from synthmon.dashboards import panel_queries, panels, problem, substitute, variables
from synthmon.errors import ConfigError
from synthmon.prom import Prometheus
from synthmon.stack import Stack

ROOT = Path(__file__).resolve().parents[1]
GRAFANA = ROOT / "examples/manager-app/monitoring/grafana"
OVERVIEW = GRAFANA / "dashboards" / "app-overview.json"
# The runbook's app-overview dashboard (docs/runbook.md; monitoring-runbook "Grafana dashboard").
RUNBOOK_PANELS = {
    "Response Time by Endpoint", "Error Rate", "Throughput", "GitHub API Usage",
    "Dependency Health",
}  # fmt: skip


def overview() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(OVERVIEW.read_text())
    return doc


# -- the files ----------------------------------------------------------------------------------


def test_provisioning_points_grafana_at_prometheus_and_the_dashboards() -> None:
    sources = yaml.safe_load((GRAFANA / "provisioning/datasources/prometheus.yml").read_text())
    [source] = sources["datasources"]
    assert (sources["apiVersion"], source["type"], source["uid"]) == (1, "prometheus", "prometheus")
    assert source["url"] == "${PROMETHEUS_URL}"
    providers = yaml.safe_load((GRAFANA / "provisioning/dashboards/synthmon.yml").read_text())
    [provider] = providers["providers"]
    assert provider["type"] == "file" and provider["options"]["path"]
    assert provider["allowUiUpdates"] is False, "the JSON files are the source of truth"


def test_app_overview_has_the_runbook_panels_on_the_provisioned_datasource() -> None:
    doc = overview()
    assert doc["uid"] == "app-overview", "the runbook links /d/app-overview"
    found = panels(doc)
    assert {p["title"] for p in found} >= RUNBOOK_PANELS
    ids = [p["id"] for p in found]
    assert len(ids) == len(set(ids)), "panel ids are unique"
    for panel in found:
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "prometheus"}, panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert refs and len(refs) == len(set(refs)), panel["title"]
        assert all(t["datasource"]["uid"] == "prometheus" for t in panel["targets"])


def test_grafana_variables_are_filled_in() -> None:
    values = {**variables(overview()), "__rate_interval": "1m"}
    assert values["job"] == "app"
    assert substitute('rate(x{job="$job"}[$__rate_interval])', values) == 'rate(x{job="app"}[1m])'
    assert substitute("${job} [[job]] ${job:regex}", values) == "app app app"
    assert substitute('label_replace(x, "a", "$1", "b", "(.*)")', values).count("$1") == 1
    multi = {"templating": {"list": [{"name": "i", "current": {"value": ["a", "b"]}},
                                     {"name": "all", "current": {"value": "$__all"}}]}}  # fmt: skip
    assert variables(multi) == {"i": "a|b", "all": ".*"}
    queries = panel_queries(OVERVIEW, "1m")
    assert all("$" not in q.promql for q in queries), [q.promql for q in queries if "$" in q.promql]
    assert len(queries) == sum(len(p.get("targets", [])) for p in panels(overview()))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not a JSON dashboard"),
        ('{"title": "x"}', "panels: expected a Grafana dashboard with a 'panels' list"),
        ('{"panels": [], "time": {"from": "yesterday"}}', "time.from: expected now-<duration>"),
    ],
)
def test_bad_dashboard_files_are_one_line_errors(text: str, message: str, tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text(text)
    with pytest.raises(ConfigError, match=r"bad\.json: ") as caught:
        panel_queries(tmp_path, "1m")
    assert message in str(caught.value) and "\n" not in str(caught.value)
    with pytest.raises(ConfigError, match="no Grafana dashboard JSON here"):
        panel_queries(tmp_path / "empty", "1m")


# -- live -----------------------------------------------------------------------------------------


def traffic(stack: Stack) -> None:
    """What a live service has and a fresh stack lacks: requests, scraped twice."""
    with httpx.Client(timeout=5) as client:
        for path in ("/health", "/api/tasks", "/api/tasks/1"):
            client.get(f"{stack.app_url}{path}")
    time.sleep(2 * stack.scrape_interval_s)


def test_every_panel_shows_data_on_the_live_stack(stack: Stack, prom: Prometheus) -> None:
    traffic(stack)
    found = [problem(prom, q, settle_s=3 * stack.scrape_interval_s)
             for q in panel_queries(OVERVIEW, "1m")]  # fmt: skip
    assert [p for p in found if p] == []


def test_broken_panels_fail_the_dashboard_check_by_name(stack: Stack, tmp_path: Path) -> None:
    doc = overview()
    for panel in panels(doc):
        if panel["title"] == "Error Rate":  # a misspelt metric: no data
            panel["targets"][0]["expr"] = panel["targets"][0]["expr"].replace(
                "http_requests_total", "http_request_total"
            )
        if panel["title"] == "Throughput":  # not PromQL at all: a query error
            panel["targets"][0]["expr"] = "sum by (endpoint (rate(http_requests_total[1m]))"
    (tmp_path / "broken.json").write_text(json.dumps(doc))
    traffic(stack)
    argv = [
        sys.executable, "-m", "pytest", "checks/test_dashboards.py", "-p", "no:cacheprovider",
        "--stack", "external", "--target-url", stack.app_url,
        "--prometheus-url", stack.prometheus_url, "--dashboards", str(tmp_path / "broken.json"),
        "--run-dir", str(tmp_path / "runs"),
    ]  # fmt: skip
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120)
    out = done.stdout
    assert done.returncode == 1, out[-3000:]
    failed = "FAILED checks/test_dashboards.py::test_panel_query_shows_data[App Overview: "
    assert f"{failed}Error Rate [A]]" in out and f"{failed}Throughput [A]]" in out
    assert "panel 'Error Rate' (dashboard 'App Overview', query A, " in out
    assert 'no data over the last 1h (no series): (sum(rate(http_request_total{job="app"' in out
    assert "panel 'Throughput' (dashboard 'App Overview', query A, " in out
    assert "query error: " in out and "HTTP 400: bad_data" in out
    queries = len(panel_queries(OVERVIEW, "1m"))
    assert f"2 failed, {queries - 2} passed" in out, out[-2000:]
