"""The pre-release performance gate: after the Locust run, Prometheus decides whether the
runbook's baselines held over exactly the steady window (P95 < 200 ms, errors < 1%, CPU, memory).
"""

from __future__ import annotations

import pytest

from synthmon.load import LoadResult
from synthmon.plugin import slo_report_key
from synthmon.prom import Prometheus
from synthmon.settings import Settings
from synthmon.slo import load_spec
from synthmon.slo.gate import gate_after_load
from synthmon.stack import Stack

pytestmark = [pytest.mark.slo, pytest.mark.load]


def test_performance_baselines_hold_under_load(
    stack: Stack,
    prom: Prometheus,
    load_run: LoadResult,
    synthmon_settings: Settings,
    pytestconfig: pytest.Config,
) -> None:
    spec = load_spec(synthmon_settings.slo_spec)
    # the window's last samples are in Prometheus after one more scrape and evaluation
    settle = stack.scrape_interval_s + stack.evaluation_interval_s
    report = gate_after_load(spec, prom, load_run, settle)
    report.to_json(stack.run_dir / "slo-report.json")
    table = report.render_table(show_promql=True)
    pytestconfig.stash[slo_report_key] = table
    assert load_run.valid, f"not a valid measurement: {load_run.reason}\n{table}"
    assert report.exit_code == 0, f"SLO gate {report.verdict}:\n{table}"
