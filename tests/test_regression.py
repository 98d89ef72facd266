"""The regression gate: margins parsed strictly, each comparison says by how much, and a
planted regression fails ``synthmon gate --baseline`` on a real Prometheus with the figure."""

from __future__ import annotations

import copy
import json
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from synthmon import cli
from synthmon.errors import ConfigError
from synthmon.slo.regression import (
    Margin,
    compare,
    parse_margins,
    parse_report,
    read_report,
)
from synthmon.stack import Stack


def row(name: str, type_: str, measured: float | None, **details: Any) -> dict[str, Any]:
    text = "P95 <= 200 ms" if type_ == "latency" else "<= 1.00%"
    verdict = "error" if measured is None else "pass"
    return {"name": name, "type": type_, "verdict": verdict, "measured": measured,
            "threshold": 0.2, "threshold_text": text, "details": details}  # fmt: skip


def report(p95: float | None = 0.100, errors: float | None = 0.002, cpu: float = 0.3) -> Any:
    return {
        "service": "manager-app",
        "objectives": [
            row("p95-latency", "latency", 0.99, histogram_quantile_s=p95),
            row("error-rate", "error_rate", errors),
            row("cpu-average", "cpu", cpu),
        ],
    }


def verdicts(base: Any, now: Any, margins: str = "") -> dict[str, str]:
    result = compare(
        parse_report(base, "base.json"), parse_report(now, "now"), parse_margins(margins)
    )
    return {c.name: c.verdict for c in result.comparisons}


# -- margins -----------------------------------------------------------------------------------


def test_margins_parse_with_units() -> None:
    assert parse_margins("p95=10%, error_rate=0.5pp,p95-latency=20ms,cpu=0.1s") == {
        "p95": Margin(0.10, "%", "+10%"),
        "error_rate": Margin(0.005, "pp", "+0.5pp"),
        "p95-latency": Margin(0.020, "s", "+20ms"),
        "cpu": Margin(0.1, "s", "+0.1s"),
    }
    assert parse_margins(None) == {} == parse_margins("")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("p95=10", "'p95=10': expected KEY=AMOUNT with a unit, e.g. p95=10%"),
        ("p95=-5%", "'p95=-5%': expected KEY=AMOUNT"),
        ("p95 10%", "'p95 10%': expected KEY=AMOUNT"),
        ("p95=10%,p95=5%", "p95 is given twice"),
    ],
)
def test_bad_margins_are_one_line_errors(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=r"^--max-regression: ") as caught:
        parse_margins(text)
    assert message in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("margins", "message"),
    [
        ("p99=10%", "p99 matches no objective (names and types: cpu, cpu-average, error-rate"),
        ("latency=0.5pp", "latency=0.5pp: pp is for shares, not latency"),
        ("error-rate=5ms", "error-rate=5ms: ms/s is for latency, not error_rate"),
    ],
)
def test_margins_must_fit_an_objective(margins: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        verdicts(report(), report(), margins)


# -- comparisons -------------------------------------------------------------------------------


def test_planted_regression_says_by_how_much() -> None:
    result = compare(
        parse_report(report(p95=0.100), "previous/slo-report.json"),
        parse_report(report(p95=0.150), "now"),
    )
    [p95] = [c for c in result.comparisons if c.name == "p95-latency"]
    assert (p95.verdict, p95.change, p95.allowed) == ("regressed", "+50 ms (+50.0%)", "+10%")
    assert p95.reason == (
        "p95-latency: P95 got worse by +50 ms (+50.0%), more than the allowed +10% "
        "(P95 100 ms -> 150 ms)"
    )
    assert result.exit_code == 1
    text = result.render()
    assert "regression against previous/slo-report.json" in text and p95.reason in text
    assert text.rstrip().endswith("regression: REGRESSED (exit 1)")


@pytest.mark.parametrize(
    ("now", "margins", "expected"),
    [
        (report(p95=0.109), "", "ok"),  # +9% of the default 10%
        (report(p95=0.111), "", "regressed"),
        (report(p95=0.150), "p95=60%", "ok"),
        (report(p95=0.150), "p95-latency=40ms,latency=60%", "regressed"),  # name beats type
        (report(p95=0.080), "p95=0%", "ok"),  # better is never a regression
    ],
)
def test_latency_margins(now: Any, margins: str, expected: str) -> None:
    assert verdicts(report(p95=0.100), now, margins)["p95-latency"] == expected


def test_error_rate_in_points_and_cpu_relative() -> None:
    got = verdicts(report(errors=0.002, cpu=0.30), report(errors=0.0069, cpu=0.34))
    assert got == {"p95-latency": "ok", "error-rate": "ok", "cpu-average": "regressed"}
    got = verdicts(report(errors=0.002), report(errors=0.0071))
    assert got["error-rate"] == "regressed"


def test_missing_figures_cannot_pass() -> None:
    result = compare(parse_report(report(p95=None), "b"), parse_report(report(), "now"))
    [p95] = [c for c in result.comparisons if c.name == "p95-latency"]
    assert p95.verdict == "error" and "the baseline has no P95 figure" in p95.reason
    assert result.exit_code == 2
    nothing = compare(parse_report({"objectives": []}, "b"), parse_report(report(), "now"))
    assert {c.verdict for c in nothing.comparisons} == {"new"}
    assert nothing.exit_code == 2, "nothing compared is not 'no regression'"


def test_new_and_dropped_objectives_are_shown_not_judged() -> None:
    base, now = report(), report()
    base["objectives"].append(row("old", "memory", 0.5))
    now["objectives"].append(row("fresh", "memory", 0.5))
    got = verdicts(base, now)
    assert (got["old"], got["fresh"], got["p95-latency"]) == ("dropped", "new", "ok")


def test_other_service_and_bad_reports(tmp_path: Path) -> None:
    other = {**report(), "service": "billing"}
    with pytest.raises(ConfigError, match="service 'billing' is not 'manager-app'"):
        compare(parse_report(other, "b.json"), parse_report(report(), "now"))
    broken = copy.deepcopy(report())
    broken["objectives"][1]["threshold"] = "low"
    with pytest.raises(ConfigError, match=r"b\.json: objectives\[1\]\.threshold: expected a num"):
        parse_report(broken, "b.json")
    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(ConfigError, match=r"x\.json: not a JSON SLO report"):
        read_report(tmp_path / "x.json")
    with pytest.raises(ConfigError, match=r"nope\.json: cannot read SLO report"):
        read_report(tmp_path / "nope.json")


def test_cli_rejects_margins_without_baseline(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["gate", "--prometheus-url", "http://127.0.0.1:1", "--last", "1h",
                     "--max-regression", "p95=10%"])  # fmt: skip
    assert code == 2
    assert "--max-regression needs --baseline FILE" in capsys.readouterr().err


# -- live: a planted regression fails the real gate ---------------------------------------------

SPEC = """\
apiVersion: synthmon/v1
kind: SLOSpec
service: manager-app
selector: {job: app}
objectives:
  - {name: p95-latency, type: latency, percentile: 0.95, threshold: 0.2, min_requests: 20}
  - {name: error-rate, type: error_rate, threshold: 0.01, min_requests: 20}
"""


def test_planted_regression_fails_synthmon_gate(
    stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "spec.yaml").write_text(SPEC)
    settle = 2 * stack.scrape_interval_s + stack.evaluation_interval_s
    with httpx.Client(timeout=5) as client:
        # the endpoint's series must exist before the window: increase() (the P95 figure)
        # ignores the first sample of a series born inside it
        client.get(f"{stack.app_url}/api/tasks").raise_for_status()
        time.sleep(settle)
        start = time.time()
        for _ in range(40):
            client.get(f"{stack.app_url}/api/tasks").raise_for_status()
    time.sleep(settle)
    gate = ["gate", "--prometheus-url", stack.prometheus_url, "--spec", str(tmp_path / "spec.yaml"),
            "--start", f"{start:.3f}", "--end", f"{time.time():.3f}"]  # fmt: skip

    assert cli.main([*gate, "--report", str(tmp_path / "now.json")]) == 0, capsys.readouterr()
    capsys.readouterr()
    # the planted baseline: the same run, with a P95 half of what was measured now
    planted = json.loads((tmp_path / "now.json").read_text())
    p95_row = next(r for r in planted["objectives"] if r["name"] == "p95-latency")
    measured = p95_row["details"]["histogram_quantile_s"]
    p95_row["details"]["histogram_quantile_s"] = measured / 2
    (tmp_path / "previous.json").write_text(json.dumps(planted))

    code = cli.main([*gate, "--baseline", str(tmp_path / "previous.json")])
    out = capsys.readouterr().out
    assert code == 1, out
    assert "verdict: PASS (exit 0)" in out, "the objectives themselves still hold"
    assert (
        "p95-latency: P95 got worse by +" in out and "(+100.0%), more than the allowed +10%" in out
    )
    assert "regression: REGRESSED (exit 1)" in out
    # the same regression within a stated margin passes, and is written to the report
    again = [*gate, "--baseline", str(tmp_path / "previous.json"), "--max-regression", "p95=150%"]
    code = cli.main([*again, "--report", str(tmp_path / "again.json")])
    assert code == 0, capsys.readouterr().out
    written = json.loads((tmp_path / "again.json").read_text())["regression"]
    assert (written["verdict"], written["exit_code"]) == ("ok", 0)
