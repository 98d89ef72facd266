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
from synthmon.settings import Settings
from synthmon.slo import SLOReport, load_spec
from synthmon.stack import Stack

pytestmark = [pytest.mark.slo, pytest.mark.load]


def test_performance_baselines_hold(
    stack: Stack,
    slo_report: SLOReport,
    synthmon_settings: Settings,
    request: pytest.FixtureRequest,
) -> None:
    """Under synthmon's load run (embedded stack) or over the look-back window (external)."""
    table = slo_report.render_table(show_promql=True)
    with evidence.step(f"Evaluate the SLOs of {slo_report.service} in Prometheus"):
        # a report property reaches the controller's summary under xdist too
        request.node.user_properties.append(("synthmon_slo_table", table))
        attach_objectives(slo_report, table)
        evidence.attach_file(stack.run_dir / "slo-report.json", "slo-report.json", "json")
    if stack.kind != "external":
        load_run: LoadResult = request.getfixturevalue("load_run")
        with evidence.step("Plot latency percentiles and error rate against the thresholds"):
            evidence.attach_load_plots(
                load_run, Thresholds.from_spec(load_spec(synthmon_settings.slo_spec))
            )
        assert load_run.valid, f"not a valid measurement: {load_run.reason}\n{table}"
    assert slo_report.exit_code == 0, f"SLO gate {slo_report.verdict}:\n{table}"


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
