"""SLOReport verdicts and renderings, and Locust stats files (no network)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from synthmon.errors import ConfigError
from synthmon.slo.client import ClientStats, client_stats_from, load_client_stats
from synthmon.slo.report import ObjectiveResult, SLOReport, Verdict


def row(name: str, verdict: Verdict, measured: float | None = 0.5) -> ObjectiveResult:
    return ObjectiveResult(
        name=name,
        type="latency",
        verdict=verdict,
        measured=measured,
        threshold=0.2,
        measured_text="n/a" if measured is None else f"{measured:.2%}",
        threshold_text="P95 <= 200 ms",
        reason=f"because {name}",
        promql=(f'up{{job="{name}"}}',),
        details={"hq": float("nan"), "requests": 10},
    )


def report(*verdicts: Verdict) -> SLOReport:
    rows = tuple(row(f"o{i}", v) for i, v in enumerate(verdicts))
    return SLOReport("app", "slo/baseline.yaml", "http://p:9090", 1700000000, 1700000600, rows)


@pytest.mark.parametrize(
    ("verdicts", "overall", "code"),
    [
        (("pass", "pass"), "pass", 0),
        (("pass", "fail"), "fail", 1),
        (("pass", "error"), "error", 2),
        (("fail", "error"), "error", 2),  # could-not-evaluate beats violated
        ((), "error", 2),  # nothing evaluated is never a pass
    ],
)
def test_overall_verdict_and_exit_code(
    verdicts: tuple[Verdict, ...], overall: str, code: int
) -> None:
    result = report(*verdicts)
    assert (result.verdict, result.exit_code) == (overall, code)


def test_json_is_valid_and_complete(tmp_path: Path) -> None:
    path = tmp_path / "slo-report.json"
    text = report("pass", "fail").to_json(path)
    doc = json.loads(path.read_text())
    assert doc == json.loads(text)
    assert doc["verdict"] == "fail" and doc["exit_code"] == 1
    assert doc["window"] == {
        "start": 1700000000,
        "end": 1700000600,
        "seconds": 600,
        "start_iso": "2023-11-14T22:13:20Z",
        "end_iso": "2023-11-14T22:23:20Z",
    }
    first = doc["objectives"][0]
    assert first["promql"] == ['up{job="o0"}'] and first["details"]["hq"] == "nan"
    assert set(first) >= {"name", "measured", "threshold", "verdict", "reason", "promql"}


def test_table_has_a_row_and_a_reason_per_objective() -> None:
    table = report("pass", "error").render_table(show_promql=True)
    lines = table.splitlines()
    assert lines[0] == "SLO gate: app (slo/baseline.yaml) on http://p:9090"
    assert "window: 2023-11-14T22:13:20Z .. 2023-11-14T22:23:20Z (600 s)" in lines[1]
    header = next(line for line in lines if line.startswith("OBJECTIVE"))
    assert header.split() == ["OBJECTIVE", "VERDICT", "MEASURED", "THRESHOLD"]
    assert any(line.startswith("o1  ") and "ERROR" in line for line in lines)
    assert "    because o1" in lines and '    promql: up{job="o1"}' in lines
    assert lines[-1] == "verdict: ERROR (exit 2)"


def test_client_stats_own_shape_and_locust_json(tmp_path: Path) -> None:
    assert client_stats_from({"requests": 100, "failures": 2, "p95_ms": 180}) == ClientStats(
        100, 2, 180.0
    )
    locust = [
        {"name": "/a", "method": "GET", "num_requests": 60, "num_failures": 1,
         "response_times": {"100": 57, "190": 3}},
        {"name": "/b", "method": "GET", "num_requests": 40, "num_failures": 0,
         "response_times": {"120": 38, "400": 2}},
    ]  # fmt: skip
    path = tmp_path / "stats.json"
    path.write_text(json.dumps(locust))
    stats = load_client_stats(path)
    # 95 of 100 at <= 120 ms: the nearest-rank P95 is 120 ms.
    assert stats == ClientStats(100, 1, 120.0) and stats.failure_rate == 0.01


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"requests": 1}, "expected keys requests, failures"),
        ({"requests": -1, "failures": 0}, "requests: expected a count >= 0, got -1"),
        ({"requests": 1.5, "failures": 0}, "expected a whole count, got 1.5"),
        ({"requests": 1, "failures": 0, "p95_ms": "x"}, "p95_ms: expected a number"),
        ([{"num_requests": 1}], r"\[0\].num_failures: expected a count >= 0, got None"),
        ("text", "expected a JSON object or Locust's --json list"),
    ],
)
def test_bad_client_stats(doc: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        client_stats_from(doc, "stats.json")


def test_unreadable_client_stats(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read Locust stats"):
        load_client_stats(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ConfigError, match=r"bad\.json: not a JSON Locust stats: Expecting"):
        load_client_stats(tmp_path / "bad.json")
