"""The capacity search's parts that need no server: the profile's validation, the margin of a
step's decision, the step outcome rules, the report key, the Pushgateway gauges, the plot.

Every rule is checked from both sides (a pass and the fail it must turn into).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from synthmon.errors import ConfigError
from synthmon.fingerprint import machine_fingerprint
from synthmon.load import load_profiles
from synthmon.load.capacity import CapacityResult, Knee
from synthmon.load.capacity_stats import CpuUse, wilson
from synthmon.load.capacity_step import Step, decide, margin
from synthmon.load.profiles import LoadProfile
from synthmon.plots import Thresholds, capacity_png
from synthmon.pushgateway import RunSummary, build_registry
from synthmon.slo.client import ClientStats
from synthmon.slo.regression_capacity import parse_capacity
from synthmon.slo.report import ObjectiveResult, SLOReport, write_capacity
from synthmon.slo.spec import load_spec

REPO = Path(__file__).resolve().parents[1]
GOOD = (
    "profiles:\n  cap:\n    kind: capacity\n    start_rps: 10\n    step_factor: 2\n"
    "    step_s: 10\n    settle_s: 2\n    max_rps: 100\n    max_duration_s: 300\n"
    "    abort_error_rate: 0.2\n"
)


def test_example_capacity_profile_is_valid_and_round_trips() -> None:
    profile = load_profiles(REPO / "examples/manager-app/load/profiles.yaml")["capacity"]
    assert profile.capacity is not None and profile.constant_throughput
    assert profile.target_rps == profile.capacity.start_rps
    assert LoadProfile.from_json(profile.to_json()) == profile
    step = profile.at_rate(37.0)
    assert step.capacity is None and step.target_rps == 37.0
    assert step.steady_s == profile.capacity.settle_s + profile.capacity.step_s


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("step_factor: 2", "step_factor: 1"), "profiles.cap.step_factor: expected a number > 1"),
        (("    max_rps: 100\n", ""), "profiles.cap.max_rps: missing"),
        (("max_rps: 100", "max_rps: 5"), "profiles.cap.max_rps: expected ≥ start_rps (10), got 5"),
        (("abort_error_rate: 0.2", "abort_error_rate: 2"), "abort_error_rate: expected a number"),
        (("settle_s: 2", "settle: 2"), "profiles.cap.settle: unknown field of a capacity"),
        (("kind: capacity", "kind: ramp"), "profiles.cap.kind: expected capacity"),
        (("step_s: 10", "step_s: true"), "profiles.cap.step_s: expected a number > 0, got True"),
    ],
)
def test_bad_capacity_profile_is_one_line(
    tmp_path: Path, edit: tuple[str, str], message: str
) -> None:
    path = tmp_path / "profiles.yaml"
    path.write_text(GOOD.replace(*edit))
    with pytest.raises(ConfigError) as info:
        load_profiles(path)
    assert message in str(info.value) and "\n" not in str(info.value)
    assert str(path) in str(info.value)


def test_wilson_interval_narrows_with_samples() -> None:
    small, large = wilson(190, 200), wilson(19_000, 20_000)  # both 95%
    assert small.low < 0.93 < 0.95 < small.high and small.side(0.95) == 0
    assert large.high - large.low < 0.01
    assert wilson(200, 200).side(0.95) == 1 and wilson(150, 200).side(0.95) == -1


def _row(type_: str, verdict: str = "pass", **details: float) -> ObjectiveResult:
    threshold = 0.2 if type_ == "latency" else 0.01
    return ObjectiveResult(type_, type_, verdict, None, threshold, "", "", "", details=details)  # type: ignore[arg-type]


def test_margin_decides_only_outside_the_interval() -> None:
    assert margin(_row("latency", requests=400, fast=400), 0.95).decision == "pass"
    assert margin(_row("latency", requests=200, fast=190), 0.95).decision == "undecided"
    assert margin(_row("latency", "fail", requests=400, fast=300), 0.95).decision == "fail"
    # 0 errors of 200 cannot vouch for a 1% budget; of 1000 it can
    assert margin(_row("error_rate", requests=200, errors=0), None).decision == "undecided"
    assert margin(_row("error_rate", requests=1000, errors=0), None).decision == "pass"
    assert margin(_row("error_rate", "fail", requests=1000, errors=50), None).decision == "fail"
    assert margin(_row("cpu", "error"), None).decision == "undecided"
    # the gate failing a row (pipeline disagreement) is never turned into a pass
    assert margin(_row("latency", "fail", requests=400, fast=400), 0.95).decision == "fail"


SPEC = """apiVersion: synthmon/v1
kind: SLOSpec
service: s
selector: {job: s}
objectives:
  - {name: latency, type: latency, percentile: 0.95, threshold: 0.2}
  - {name: error_rate, type: error_rate, threshold: 0.01}
"""


def _report(tmp_path: Path, requests: int, fast: int, errors: int, seconds: float = 10.0):  # type: ignore[no-untyped-def]
    (tmp_path / "slo.yaml").write_text(SPEC)
    spec = load_spec(tmp_path / "slo.yaml")
    latency = "pass" if fast >= 0.95 * requests else "fail"
    rows = (
        _row("latency", latency, requests=requests, fast=fast),
        _row("error_rate", "pass" if errors <= 0.01 * requests else "fail", requests=requests,
             errors=errors),
    )  # fmt: skip
    client = ClientStats(requests, errors)
    return spec, SLOReport("s", "slo.yaml", "http://p", 0.0, seconds, rows, client)


def test_shortfall_is_generator_bound_only_when_the_generator_is_busy(tmp_path: Path) -> None:
    spec, report = _report(tmp_path, 600, 600, 0)  # 60 req/s achieved
    busy, idle = CpuUse(0.8, 0.8, 1, 0.99), CpuUse(0.1, 0.1, 1, 0.15)
    assert decide(report, spec, 100.0, busy)[0] == "generator-bound"
    outcome, failed, reason, _, achieved = decide(report, spec, 100.0, idle)
    assert (outcome, failed) == ("fail", "throughput") and "server saturation" in reason
    assert achieved == pytest.approx(60.0)
    assert decide(report, spec, 62.0, idle)[0] == "pass"  # achieved ≥ 90% of offered
    spec, slow = _report(tmp_path, 2000, 1800, 0)
    assert decide(slow, spec, 200.0, idle)[:2] == ("fail", "latency")
    spec, thin = _report(tmp_path, 200, 200, 0, seconds=2.0)
    assert decide(thin, spec, 100.0, idle)[0] == "undecided"  # 0 of 200 vs 1%: too few


def _result() -> CapacityResult:
    def step(i: int, rate: float, outcome: str) -> Step:
        return Step(i, "coarse", rate, rate * 0.98, int(rate * 10), (0.0, 10.0), outcome,  # type: ignore[arg-type]
                    None if outcome == "pass" else "latency", "", (), 0.2, 0.2, 0.3,
                    0.0, 0.99 if outcome == "pass" else 0.6, 12.0, 2.0, "")  # fmt: skip

    knee = Knee(40.0, 44.0, False, "latency", "within 10%")
    steps = (step(1, 20, "pass"), step(2, 40, "pass"), step(3, 60, "fail"), step(4, 44, "fail"))
    return CapacityResult("cap", knee, steps, False, 50.0, {"latency": 0.95})


def test_report_key_merges_beside_the_gate_rows(tmp_path: Path) -> None:
    path = tmp_path / "slo-report.json"
    path.write_text(json.dumps({"verdict": "pass", "objectives": []}))
    write_capacity(path, _result().to_dict())
    doc = json.loads(path.read_text())
    assert doc["verdict"] == "pass" and doc["capacity"]["generator_bound"] is False
    assert doc["capacity"]["knee"] == {
        "low": 40.0, "high": 44.0, "at_least": False, "failed_objective": "latency",
        "reason": "within 10%",
    }  # fmt: skip
    assert len(doc["capacity"]["steps"]) == 4 and doc["capacity"]["steps"][0]["offered_rps"] == 20
    alone = tmp_path / "alone.json"
    write_capacity(alone, _result().to_dict())
    assert set(json.loads(alone.read_text())) == {"capacity"}
    write_capacity(alone, _result().to_dict(), machine_fingerprint(None, None))
    assert json.loads(alone.read_text())["fingerprint"]["cores"] >= 1
    # the regression gate reads this key as it is written
    parsed = parse_capacity(json.loads(alone.read_text())["capacity"], "capacity")
    assert parsed is not None and parsed.knee.low == 40.0 and parsed.knee.high == 44.0


def test_pushgateway_carries_the_knee() -> None:
    doc = _result().to_dict()
    summary = RunSummary({}, (), 0, 0.0, 1.0, capacity=doc)
    text = generate_latest(build_registry(summary)).decode()
    assert "synthmon_capacity_knee_low_rps 40.0" in text
    assert "synthmon_capacity_knee_high_rps 44.0" in text
    assert "synthmon_capacity_at_least 0.0" in text and "synthmon_capacity_steps 4.0" in text
    doc["knee"] = {**doc["knee"], "high": None, "at_least": True}
    text = generate_latest(build_registry(RunSummary({}, (), 0, 0.0, 1.0, capacity=doc))).decode()
    assert "synthmon_capacity_knee_high_rps" not in text  # unknown is not zero
    assert "synthmon_capacity_at_least 1.0" in text


def test_plot_is_a_png_and_needs_steps() -> None:
    png = capacity_png(_result(), Thresholds(0.2, 0.95, 0.01))
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    empty = CapacityResult("cap", Knee(None, None, True, None, ""), (), False, 0.0, {})
    with pytest.raises(ValueError, match="no steps"):
        capacity_png(empty, Thresholds())
