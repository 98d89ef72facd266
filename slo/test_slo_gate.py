"""The pre-release performance gate: after the Locust run, Prometheus decides whether the
runbook's baselines held over exactly the steady window (P95 < 200 ms, errors < 1%, CPU, memory).

Evidence: the verdict table with every objective's PromQL, the report JSON, and plots of the
window's latency percentiles and error rate with the spec's thresholds drawn.
"""

from __future__ import annotations

import pytest

from synthmon import evidence
from synthmon.load import LoadResult
from synthmon.plots import Thresholds
from synthmon.plugin import slo_report_key
from synthmon.prom import Prometheus
from synthmon.settings import Settings
from synthmon.slo import SLOReport, load_spec
from synthmon.slo.gate import gate_after_load
from synthmon.stack import Stack

pytestmark = [pytest.mark.slo, pytest.mark.load]


def test_performance_baselines_hold_under_load(
    stack: Stack,
    prom: Prometheus,
    load_run: LoadResult,
    synthmon_settings: Settings,
    pytestconfig: pytest.Config,
    request: pytest.FixtureRequest,
) -> None:
    spec = load_spec(synthmon_settings.slo_spec)
    # the window's last samples are in Prometheus after one more scrape and evaluation
    settle = stack.scrape_interval_s + stack.evaluation_interval_s
    with evidence.step(f"Evaluate the SLOs of {spec.service} in Prometheus over the load window"):
        report = gate_after_load(spec, prom, load_run, settle)
        report.to_json(stack.run_dir / "slo-report.json")
        table = report.render_table(show_promql=True)
        pytestconfig.stash[slo_report_key] = table
        # a report property reaches the controller's summary under xdist too
        request.node.user_properties.append(("synthmon_slo_table", table))
        attach_objectives(report, table)
        evidence.attach_file(stack.run_dir / "slo-report.json", "slo-report.json", "json")
    with evidence.step("Plot latency percentiles and error rate against the thresholds"):
        evidence.attach_load_plots(load_run, Thresholds.from_spec(spec))
    assert load_run.valid, f"not a valid measurement: {load_run.reason}\n{table}"
    assert report.exit_code == 0, f"SLO gate {report.verdict}:\n{table}"


def attach_objectives(report: SLOReport, table: str) -> None:
    """The verdict table, then one attachment per objective: its PromQL and what it measured."""
    evidence.attach_text(f"SLO verdict: {report.verdict.upper()}", table)
    for row in report.results:
        details = "".join(f"\n  {key}: {value}" for key, value in row.details.items())
        evidence.attach_text(
            f"{row.name}: {row.verdict.upper()} ({row.measured_text} vs {row.threshold_text})",
            f"{row.name} ({row.type}): {row.verdict}\nmeasured: {row.measured_text}\n"
            f"threshold: {row.threshold_text}\nwhy: {row.reason}\n\nPromQL:\n"
            + "\n".join(f"  {q}" for q in row.promql)
            + (f"\n\ndetails:{details}" if details else ""),
        )
