"""The capacity regression gate on hand-written reports: the knee's low ends compared with the
margin, "at least" compared only as far as a lower bound allows, and a comparison across
fingerprints or below the baseline's own spread is exit 2, never a flaky 1. Last, the real
``synthmon gate --current`` as a subprocess."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from synthmon.errors import ConfigError
from synthmon.slo.regression import (
    RegressionResult,
    compare,
    parse_margins,
    parse_report,
    read_report,
)

ROOT = Path(__file__).resolve().parents[1]
FP: dict[str, Any] = {
    "cores": 2, "cpu_model": "Intel(R) Xeon(R) Processor", "cpuset": "0-1",
    "cpu_quota_cores": None, "container": "none", "profile_hash": "sha256:aaaa",
    "spec_hash": "sha256:bbbb", "synthmon_version": "0.1.0", "setup": {},
}  # fmt: skip


def report(
    low: float,
    high: float | None,
    *,
    at_least: bool = False,
    generator_bound: bool = False,
    fingerprint: dict[str, Any] | None = FP,
    searches: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    knee = {"low": low, "high": high, "at_least": at_least, "failed_objective": "p95-latency"}
    capacity: dict[str, Any] = {"knee": knee, "steps": [], "generator_bound": generator_bound}
    if searches is not None:
        capacity["searches"] = searches
    doc: dict[str, Any] = {"service": "app", "verdict": "pass", "objectives": []}
    return doc | {"fingerprint": copy.deepcopy(fingerprint), "capacity": capacity}


def run(base: dict[str, Any], now: dict[str, Any], margins: str = "capacity=10%") -> Any:
    result = compare(parse_report(base, "base.json"), parse_report(now, "now.json"),
                     parse_margins(margins))  # fmt: skip
    [row] = [c for c in result.comparisons if c.name == "capacity"]
    return row, result


# -- like with like ----------------------------------------------------------------------------


def test_drop_beyond_the_margin_fails_saying_by_how_much() -> None:
    row, result = run(report(142, 150), report(118, 125))
    assert row.verdict == "regressed" and result.exit_code == 1
    assert (
        row.reason == "capacity 142 -> 118 req/s (knee low ends): -16.9%, more than the 10% allowed"
    )
    assert (row.baseline, row.current, row.change, row.allowed) == (
        "142 req/s", "118 req/s", "-16.9%", "-10%",
    )  # fmt: skip
    text = result.render()
    assert row.reason in text and text.rstrip().endswith("regression: REGRESSED (exit 1)")


@pytest.mark.parametrize(
    ("now", "margins", "verdict", "said"),
    [
        (report(140, 148), "capacity=10%", "ok", "-1.4%, within the 10% allowed"),
        (report(128, 135), "capacity=10%", "ok", "-9.9%, within the 10% allowed"),
        (report(127, 135), "capacity=10%", "regressed", "-10.6%, more than the 10% allowed"),
        (report(200, 210), "capacity=10%", "ok", "+40.8%, within"),  # an improvement
        (report(125, 130), "capacity=12.5%", "ok", "-12.0%, within the 12.5% allowed"),
        (report(127, 135), "", "regressed", "more than the 10% allowed"),  # the default
    ],
)
def test_margins_on_knee_low_ends(now: Any, margins: str, verdict: str, said: str) -> None:
    row, result = run(report(142, 150), now, margins)
    assert row.verdict == verdict and said in row.reason, row.reason
    assert result.exit_code == {"ok": 0, "regressed": 1}[verdict]


# -- cannot be vouched for ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"cores": 4}, "measured differently: cores 2 -> 4"),
        ({"cpu_quota_cores": 0.5}, "cgroup CPU quota (cores) none -> 0.5"),
        ({"profile_hash": "sha256:cccc"}, "load profile sha256:aaaa -> sha256:cccc"),
        ({"setup": {"app_cpu_quota": "0.5"}}, "setup {} -> {app_cpu_quota=0.5}"),
        ({"profile_hash": None}, "the current run does not record its load profile"),
    ],
)
def test_other_fingerprint_is_exit_2_not_a_fail(change: dict[str, Any], said: str) -> None:
    row, result = run(report(142, 150), report(60, 70, fingerprint=FP | change))
    assert row.verdict == "error" and result.exit_code == 2, "a -58% drop, but not comparable"
    assert row.reason.startswith("capacity: cannot be vouched for: ") and said in row.reason
    assert "capacity 142 -> 60 req/s (knee low ends): -57.7%" in row.reason, "still says it"


def test_a_synthmon_upgrade_alone_is_noted_not_blocking() -> None:
    row, _ = run(report(142, 150), report(140, 148, fingerprint=FP | {"synthmon_version": "9"}))
    assert row.verdict == "ok"


def test_no_fingerprint_cannot_be_vouched_for() -> None:
    row, result = run(report(142, 150, fingerprint=None), report(142, 150))
    assert result.exit_code == 2
    assert "the baseline records no fingerprint (machine, confinement, profile)" in row.reason


def test_other_fingerprint_also_voids_the_objectives() -> None:
    objective = {"name": "p95-latency", "type": "latency", "verdict": "pass", "measured": 0.99,
                 "threshold": 0.2, "threshold_text": "P95 <= 200 ms",
                 "details": {"histogram_quantile_s": 0.1}}  # fmt: skip
    base, now = report(142, 150), report(142, 150, fingerprint=FP | {"cores": 8})
    base["objectives"], now["objectives"] = [objective], [copy.deepcopy(objective)]
    result = compare(parse_report(base, "b"), parse_report(now, "n"), parse_margins(""))
    assert {c.name: c.verdict for c in result.comparisons} == {
        "p95-latency": "error", "capacity": "error",
    }  # fmt: skip
    latency = result.comparisons[0].reason
    assert latency.startswith("p95-latency: cannot be vouched for: measured differently (cores")


@pytest.mark.parametrize(
    ("base", "margins", "said"),
    [
        (report(100, 120), "capacity=10%",
         "the 10% allowed is less than the baseline's own spread (its knee [100, 120] req/s is "
         "20.0% wide); allow at least 20.0% or measure a tighter baseline"),
        (report(100, 105, searches=[{"low": 90, "high": 95}, {"low": 100, "high": 105},
                                    {"low": 112, "high": 118}]), "capacity=15%",
         "(its 3 searches' low ends span 90..112 req/s, 22.0%)"),
    ],
)  # fmt: skip
def test_margin_below_the_baselines_spread_is_exit_2(base: Any, margins: str, said: str) -> None:
    row, result = run(base, copy.deepcopy(base), margins)
    assert row.verdict == "error" and result.exit_code == 2
    assert said in row.reason, row.reason


def test_margin_equal_to_the_spread_is_judged() -> None:
    row, _ = run(report(100, 120), report(100, 120), "capacity=20%")
    assert row.verdict == "ok"


# -- "at least" --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "now", "verdict", "said"),
    [
        (report(142, 150), report(150, None, at_least=True, generator_bound=True), "ok",
         "capacity 142 -> at least 150 req/s (knee low ends): +5.6%, within the 10% allowed "
         "(at least: the load generator was CPU-bound)"),
        (report(142, 150), report(130, 140, generator_bound=True), "ok",
         "(at least: the load generator was CPU-bound)"),  # generator-bound is a lower bound
        (report(142, 150), report(100, None, at_least=True), "error",
         "this run shows only at least 100 req/s (its search stopped before a step failed), "
         "below the 127.8 the 10% allowed needs: its capacity is unknown"),
        (report(142, None, at_least=True), report(150, 160), "error",
         "the baseline shows only at least 142 req/s (its search stopped before a step "
         "failed), so this run's 150..160 cannot be shown to be within 10%"),
        (report(142, None, at_least=True), report(100, 110), "regressed",
         "capacity at least 142 -> 100 req/s (knee low ends): -29.6% (this run failed at 110, "
         "below the baseline's lower bound by more than the 10% allowed)"),
        (report(142, None, at_least=True), report(150, None, at_least=True), "error",
         "neither search found a knee (both are lower bounds)"),
    ],
)  # fmt: skip
def test_at_least_concludes_only_what_a_bound_allows(
    base: Any, now: Any, verdict: str, said: str
) -> None:
    row, result = run(base, now)
    assert row.verdict == verdict and said in row.reason, row.reason
    assert result.exit_code == {"ok": 0, "regressed": 1, "error": 2}[verdict]


# -- margins and reports -----------------------------------------------------------------------


def test_capacity_margin_needs_a_search_on_both_sides() -> None:
    only_now = report(142, 150)
    base = {k: v for k, v in only_now.items() if k != "capacity"}
    row, result = run(base, only_now)
    assert row.verdict == "error" and result.exit_code == 2
    assert (
        row.reason
        == "capacity: the baseline has no capacity search, so capacity=10% cannot be checked"
    )
    row, result = run(base, only_now, "")
    assert row.verdict == "new" and result.exit_code == 2, "nothing judged is not a pass"
    with pytest.raises(ConfigError, match=r"capacity matches no objective .*capacity needs a cap"):
        run(base, base)


def test_capacity_margin_is_relative() -> None:
    with pytest.raises(ConfigError, match=r"^--max-regression: capacity=5pp: capacity takes a r"):
        run(report(142, 150), report(142, 150), "capacity=5pp")


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("capacity", "knee", "low"), "fast",
         "capacity.knee.low: expected a rate > 0 or null, got 'fast'"),
        (("capacity", "knee", "low"), 0, "capacity.knee.low: expected a rate > 0 or null, got 0"),
        (("capacity", "knee", "high"), None, "capacity.knee.high: expected a rate > 0, got None"),
        (("capacity", "knee", "high"), 90, "capacity.knee.high: 90 is below low 142"),
        (("capacity", "knee", "at_least"), "no", "capacity.knee.at_least: expected true or false"),
        (("capacity", "knee"), None, "capacity.knee: expected an object with low and high"),
        (("capacity", "generator_bound"), 1, "capacity.generator_bound: expected true or false"),
        (("capacity", "searches"), 3, "capacity.searches: expected a list of knees, got 3"),
        (("capacity",), [], "capacity: expected an object with a knee, got []"),
        (("fingerprint", "cores"), "two", "fingerprint.cores: expected an integer, got 'two'"),
        (("fingerprint", "profile_hash"), 5, "fingerprint.profile_hash: expected a string or n"),
        (("fingerprint",), "x", "fingerprint: expected an object, got 'x'"),
    ],
)  # fmt: skip
def test_malformed_baseline_names_file_and_key(
    tmp_path: Path, path: tuple[str, ...], value: Any, message: str
) -> None:
    doc = report(142, 150)
    *parents, last = path
    target = doc
    for key in parents:
        target = target[key]
    target[last] = value
    (tmp_path / "previous.json").write_text(json.dumps(doc))
    with pytest.raises(ConfigError) as caught:
        read_report(tmp_path / "previous.json")
    text = str(caught.value)
    assert text.startswith(f"{tmp_path / 'previous.json'}: {message}"), text
    assert "\n" not in text


def test_regression_is_written_with_the_report() -> None:
    _, result = run(report(142, 150), report(118, 125))
    assert isinstance(result, RegressionResult)
    doc = result.to_dict()
    assert (doc["verdict"], doc["exit_code"]) == ("regressed", 1)
    assert doc["comparisons"][0]["name"] == "capacity"


# -- the command line, as CI runs it -----------------------------------------------------------


def gate(tmp_path: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "synthmon.cli", "gate", *argv],
        capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env,
    )  # fmt: skip


def test_synthmon_gate_current_against_baseline(tmp_path: Path) -> None:
    (tmp_path / "previous").mkdir()
    (tmp_path / "previous/slo-report.json").write_text(json.dumps(report(142, 150)))
    (tmp_path / "now.json").write_text(json.dumps(report(118, 125)))
    base = ["--current", "now.json", "--baseline", "previous/slo-report.json"]

    done = gate(tmp_path, *base, "--max-regression", "capacity=10%", "--report", "out.json")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "capacity 142 -> 118 req/s (knee low ends): -16.9%, more than the 10% allowed" in (
        done.stdout
    )
    assert "current report: now.json (its own verdict: pass)" in done.stdout
    written = json.loads((tmp_path / "out.json").read_text())
    assert written["regression"]["exit_code"] == 1 and written["capacity"]["knee"]["low"] == 118

    assert gate(tmp_path, *base, "--max-regression", "capacity=20%").returncode == 0

    (tmp_path / "other.json").write_text(
        json.dumps(report(142, 150, fingerprint=FP | {"cores": 4}))
    )
    done = gate(tmp_path, "--current", "other.json", "--baseline", "previous/slo-report.json")
    assert done.returncode == 2 and "cannot be vouched for: measured differently: cores 2 -> 4" in (
        done.stdout
    )

    broken = report(142, 150)
    broken["capacity"]["knee"]["low"] = "fast"
    (tmp_path / "previous/slo-report.json").write_text(json.dumps(broken))
    done = gate(tmp_path, *base)
    assert done.returncode == 2
    assert done.stderr == (
        "synthmon gate: error: previous/slo-report.json: capacity.knee.low: expected a rate > 0 "
        "or null, got 'fast'\n"
    )
    done = gate(tmp_path, *base, "--last", "1h")
    assert done.returncode == 2 and "--current compares an existing report; --last is" in (
        done.stderr
    )


def test_a_search_that_passed_no_step_is_a_knee_below_its_first_step() -> None:
    """``low: null`` (the search's first step failed): capacity below it, a regression against
    a baseline that had one; as the baseline it leaves nothing to compare with (exit 2)."""
    row, result = run(report(142, 150), report(None, 25))  # type: ignore[arg-type]
    assert row.verdict == "regressed" and result.exit_code == 1, row.reason
    assert "capacity 142 -> 0 req/s (knee low ends): -100.0%" in row.reason
    row, result = run(report(None, 25), report(142, 150))  # type: ignore[arg-type]
    assert result.exit_code == 2, row.reason
    assert "the baseline's search passed no step" in row.reason
