"""The pre-release performance gate: after the Locust run, Prometheus decides whether the
runbook's baselines held over exactly the steady window (P95 < 200 ms, errors < 1%, CPU, memory).

One test per objective of the project's SLO spec, its id the objective's name
(``test_objective_holds[p95-latency]``: stable in JUnit), each failing on its own objective
only; its JUnit properties carry the verdict, what was measured and the threshold. The whole
spec is evaluated once (the session's ``slo_report``, written to slo-report.json).

Evidence: the verdict table with every objective's PromQL, the report JSON, and plots of the
window's latency percentiles and error rate with the spec's thresholds drawn. Each latency
objective lists the exemplars above its threshold in the window (synthmon.slo.exemplars): the
trace IDs of the slow requests, whether Jaeger has them and their slowest span, so a failing
P95 comes with the requests that made it fail.
"""

from __future__ import annotations

import pytest

from synthmon import evidence
from synthmon.errors import ConfigError
from synthmon.load import LoadResult
from synthmon.plots import Thresholds
from synthmon.plugin import settings_of
from synthmon.settings import Settings
from synthmon.slo import SLOReport, load_spec
from synthmon.slo.exemplars import failing_exemplars
from synthmon.slo.report import ObjectiveResult
from synthmon.stack import Stack

pytestmark = [pytest.mark.slo, pytest.mark.load]

#: The one case collected when the spec cannot be read: it fails with the spec's error.
SPEC_ERROR = "slo-spec"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One case per objective, in the spec's order, its id the objective's name."""
    if "objective" in metafunc.fixturenames:
        try:
            spec = load_spec(settings_of(metafunc.config).slo_spec)
        except ConfigError:  # the slo_report fixture fails the case with the error's line
            names = [SPEC_ERROR]
        else:
            names = [objective.name for objective in spec.objectives]
        metafunc.parametrize("objective", names, ids=names)


@pytest.fixture(scope="module")
def slo_evidence(
    stack: Stack,
    slo_report: SLOReport,
    synthmon_settings: Settings,
    request: pytest.FixtureRequest,
) -> str:
    """The whole gate's evidence, once: the verdict table, slo-report.json, the load plots."""
    slo_report = slo_report
    table = slo_report.render_table(show_promql=True)
    with evidence.step(f"Evaluate the SLOs of {slo_report.service} in Prometheus"):
        evidence.attach_text(f"SLO verdict: {slo_report.verdict.upper()}", table)
        evidence.attach_file(stack.run_dir / "slo-report.json", "slo-report.json", "json")
        for found in slo_report.exemplars:
            evidence.attach_text(f"exemplars: {found.objective}", found.render())
    if stack.kind != "external":
        load_run: LoadResult = request.getfixturevalue("load_run")
        with evidence.step("Plot latency percentiles and error rate against the thresholds"):
            evidence.attach_load_plots(
                load_run, Thresholds.from_spec(load_spec(synthmon_settings.slo_spec))
            )
    return table


def test_objective_holds(
    objective: str,
    stack: Stack,
    slo_report: SLOReport,
    slo_evidence: str,
    request: pytest.FixtureRequest,
) -> None:
    """Under synthmon's load run (embedded stack) or over the look-back window (external)."""
    table = slo_evidence
    # a report property reaches the controller's summary under xdist too
    request.node.user_properties.append(("synthmon_slo_table", table))
    slo_report = slo_report
    rows = {row.name: row for row in slo_report.results}
    assert objective in rows, f"objective {objective} not in the SLO report:\n{table}"
    row = rows[objective]
    # JUnit <properties> of this case (user_properties, as record_property would add them)
    request.node.user_properties.extend(
        [
            ("slo_verdict", row.verdict),
            ("slo_measured", row.measured_text),
            ("slo_threshold", row.threshold_text),
        ]
    )
    with evidence.step(f"Objective {row.name}: {row.verdict.upper()}"):
        attach_objective(row)
    if stack.kind != "external":
        load_run: LoadResult = request.getfixturevalue("load_run")
        assert load_run.valid, f"not a valid measurement: {load_run.reason}\n{table}"
    slow = failing_exemplars(slo_report, row.name)  # the requests that made it fail
    short = slo_report.render_table(show_promql=True, show_exemplars=False)
    assert row.verdict == "pass", (
        f"SLO {row.name} {row.verdict}: {row.measured_text} vs {row.threshold_text} "
        f"({row.reason})" + (f"\n{slow}" if slow else "") + f"\n{short if slow else table}"
    )


def attach_objective(row: ObjectiveResult) -> None:
    """One objective's attachment: its PromQL and what it measured."""
    details = "".join(f"\n  {key}: {value}" for key, value in row.details.items())
    evidence.attach_text(
        f"{row.name}: {row.verdict.upper()} ({row.measured_text} vs {row.threshold_text})",
        f"{row.name} ({row.type}): {row.verdict}\nmeasured: {row.measured_text}\n"
        f"threshold: {row.threshold_text}\nwhy: {row.reason}\n\nPromQL:\n"
        + "\n".join(f"  {q}" for q in row.promql)
        + (f"\n\ndetails:{details}" if details else ""),
    )
