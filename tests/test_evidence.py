"""Evidence, plots and the terminal: each helper shows what it must, hides what it must not,
and costs nothing when Allure is not recording.

Allure-active runs happen in a pytester subprocess: allure-commons keeps one plugin manager per
interpreter, which an in-process inner run with --alluredir would share with this session."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from synthmon import evidence, plots, progress
from synthmon.load import LoadResult
from synthmon.prom import Sample, Series
from synthmon.sinks import Notification

pytest_plugins = ["pytester"]

TOKEN = "tok-3f9a1c77d2e54b"
PASSWORD = "pw-never-shown-81"


def exchange() -> httpx.Response:
    request = httpx.Request(
        "POST",
        "http://admin:urlpass99@127.0.0.1:8000/api/login?token=querysecret1&page=2",
        headers={"Authorization": f"Bearer {TOKEN}", "X-Chaos-Token": TOKEN},
        json={"username": "demo", "password": PASSWORD},
    )
    body = {"token": TOKEN, "user": "demo", "note": "x" * 5000}
    return httpx.Response(200, json=body, request=request, headers={"Set-Cookie": "s=abc"})


def test_an_exchange_shows_request_line_status_and_bodies_never_headers_or_secrets() -> None:
    text = evidence.exchange_text(exchange())
    assert text.startswith("POST http://admin:***@127.0.0.1:8000/api/login?token=***&page=2")
    assert "HTTP 200 OK" in text
    assert '"username": "demo"' in text and '"user": "demo"' in text
    for secret in (TOKEN, PASSWORD, "urlpass99", "querysecret1", "Authorization", "Set-Cookie"):
        assert secret not in text, f"{secret!r} leaked into the exchange evidence"
    assert "more characters" in text  # the 5000-character body is cut


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"api_key": "abc123"}', '{"api_key": "***"}'),
        ("Authorization: Bearer abc.def", "Authorization: ***"),
        ("curl -H 'Bearer abc.def'", "curl -H 'Bearer ***'"),
        ("postgresql://user:pw123@db/x", "postgresql://user:***@db/x"),
        ("routing_key=R0UT1NG", "routing_key=***"),
        ("alertname=HighErrorRate", "alertname=HighErrorRate"),
    ],
)
def test_redact_text(text: str, expected: str) -> None:
    assert evidence.redact_text(text) == expected


def test_promql_evidence_says_query_time_and_result_or_no_data_or_error() -> None:
    one = [Sample({"job": "app"}, 0.25, 1.0)]
    text = evidence.promql_text("rate(x[1m])  >  0", one, at=0.0)
    assert "PromQL: rate(x[1m]) > 0" in text and "1970-01-01T00:00:00" in text
    assert '{job="app"} = 0.25' in text
    series = [Series({"job": "app"}, ((1.0, 2.0), (2.0, 5.0)))]
    assert "2 points min 2, max 5, last 5" in evidence.promql_text("up[1m]", series, None)
    assert "0 series (no data)" in evidence.promql_text("up", [], None)
    assert "error: boom" in evidence.promql_text("up", ValueError("boom"), None)


def test_notification_evidence_has_no_raw_payload_and_masks_routing_keys() -> None:
    note = Notification(
        1, 1, 10.0, "pagerduty", "ROUTINGKEY-abcd1234", "pager", "firing", "AppDown",
        labels={"priority": "P1"}, raw={"routing_key": "ROUTINGKEY-abcd1234", "x": TOKEN},
    )  # fmt: skip
    text = evidence.notifications_text([note])
    assert "1 notification(s)" in text and "pagerduty:***1234 firing AppDown" in text
    assert "ROUTINGKEY" not in text and TOKEN not in text and '"raw"' not in text
    assert "0 notification(s): none" in evidence.notifications_text([])


def test_without_alluredir_every_helper_is_a_no_op_and_builds_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert not evidence.active()

    def must_not_run(*args: object, **kwargs: object) -> None:
        raise AssertionError("evidence was built although Allure is not recording")

    monkeypatch.setattr(evidence.allure, "attach", must_not_run)
    monkeypatch.setattr(plots, "load_seconds", must_not_run)
    with evidence.step("a step", after=must_not_run):
        evidence.attach_text("t", "x")
        evidence.attach_json("j", {})
        evidence.attach_exchange(exchange())
        evidence.attach_file(Path("/nonexistent"), "f", "html")
        evidence.attach_notifications("n", [])
        evidence.attach_load_plots(load_result(Path("/nonexistent")), plots.Thresholds())


# -- plots -----------------------------------------------------------------------------------


def write_records(directory: Path, start: float) -> None:
    """20 s of requests: 10/s at 50-149 ms; second 5 all at 400 ms; second 8 half failed."""
    lines = []
    for second in range(20):
        for i in range(10):
            ms = 400.0 if second == 5 else 50.0 + 10 * i
            failed = second == 8 and i % 2 == 0
            lines.append(f"{start + second + i / 10}\tGET\t/api/tasks\t{ms}\t{int(failed)}\n")
    (directory / "requests-1.tsv").write_text("".join(lines))


def load_result(directory: Path, start: float = 1000.0) -> LoadResult:
    return LoadResult(
        "baseline", "http://127.0.0.1:1", start, start + 20, 200, 5, 10.0, 10.0, 140.0,
        True, "ok", True, 200, 5, files={"window": directory / "load-window.json"},
    )  # fmt: skip


def test_per_second_percentiles_and_error_rate_come_from_the_records(tmp_path: Path) -> None:
    write_records(tmp_path, 1000.0)
    seconds, source = plots.load_seconds(load_result(tmp_path))
    assert source == "Locust per-request records" and len(seconds) == 20
    assert seconds[0].requests == 10 and seconds[0].p50_ms == 90.0 and seconds[0].p95_ms == 140.0
    assert seconds[5].p95_ms == 400.0
    assert seconds[8].error_rate == 0.5 and seconds[9].error_rate == 0.0


def test_the_latency_and_error_plots_draw_the_slo_thresholds(tmp_path: Path) -> None:
    write_records(tmp_path, 1000.0)
    seconds, _ = plots.load_seconds(load_result(tmp_path))
    thresholds = plots.Thresholds(latency_s=0.2, percentile=0.95, error_rate=0.01)
    latency = plots.latency_figure(seconds, thresholds, "latency")
    drawn = {line.get_label(): list(line.get_ydata()) for line in latency.axes[0].lines}
    assert drawn["SLO: P95 <= 200 ms"] == [200.0, 200.0]
    assert drawn["P95"][5] == 400.0
    errors = plots.error_rate_figure(seconds, thresholds, "errors")
    labels = [line.get_label() for line in errors.axes[0].lines]
    assert "SLO: error rate <= 1%" in labels
    assert plots.png(latency).startswith(b"\x89PNG\r\n\x1a\n")


def test_no_requests_in_the_window_is_no_plot_not_an_empty_one(tmp_path: Path) -> None:
    write_records(tmp_path, 5000.0)  # all outside the window
    seconds, _ = plots.load_seconds(load_result(tmp_path))
    with pytest.raises(ValueError, match="no requests in the load window"):
        plots.latency_png(seconds, plots.Thresholds(), "t")


def test_a_corrupt_record_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "requests-1.tsv").write_text("1.0\tGET\t/x\t5.0\t0\nnot a record\n")
    with pytest.raises(ValueError, match=r"requests-1.tsv:2: expected completed_at"):
        plots.read_records([tmp_path / "requests-1.tsv"])


def test_without_records_the_stats_history_is_plotted(tmp_path: Path) -> None:
    history = tmp_path / "locust_stats_history.csv"
    history.write_text(
        "Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,95%,99%\n"
        "1001,5,,Aggregated,20.0,1.0,40,90,120\n"
        "1002,5,GET,/api/tasks,20.0,1.0,40,90,120\n"
        "1003,5,,Aggregated,22.0,0.0,N/A,N/A,N/A\n"
    )
    load = load_result(tmp_path)
    load.files["history_csv"] = history
    seconds, source = plots.load_seconds(load)
    assert source == "Locust stats history"
    assert [(s.t, s.requests, s.failures, s.p95_ms) for s in seconds] == [
        (1.0, 20, 1, 90.0),
        (3.0, 22, 0, None),
    ]


# -- the terminal ----------------------------------------------------------------------------


def test_a_waiting_line_says_what_and_until_when() -> None:
    text = progress.line("HighErrorRate to fire", 35, now=0.0)
    assert text.startswith("synthmon: waiting for HighErrorRate to fire until ")
    assert text.endswith(" (35 s)")


CONFTEST = """
from synthmon import progress
def pytest_configure(config):
    progress.configure(config)
"""
CHECKS = """
import pytest
from synthmon import progress

@pytest.mark.health
def test_health_ok():
    progress.waiting("the app to report healthy", 30)
    progress.waiting("a short blink", 1)

@pytest.mark.slo
def test_gate(record_property):
    record_property("synthmon_slo_table", "SLO gate: demo\\nverdict: FAIL (exit 1)")
    assert False, "objective violated"

@pytest.mark.health
def test_skipped():
    pytest.skip("not configured")

def test_not_a_check():
    pass
"""


def test_long_waits_and_the_summary_reach_the_terminal(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_checks=CHECKS)
    outer = progress._writer
    result = pytester.runpytest("-p", "no:cacheprovider")  # output captured, as by default
    assert progress._writer is outer, "the inner session left its terminal writer behind"
    result.assert_outcomes(passed=2, failed=1, skipped=1)
    result.stdout.fnmatch_lines(
        [
            "synthmon: waiting for the app to report healthy until ??:??:?? (30 s)",
            "*- synthmon -*",
            "checks: 1 passed, 1 skipped, 1 failed",
            "  by marker: health 1 passed, 1 skipped; slo 1 failed",
            "  FAILED test_checks.py::test_gate",
            "SLO gate: demo",
            "verdict: FAIL (exit 1)",
        ]
    )
    result.stdout.no_fnmatch_line("*a short blink*")


def test_the_summary_works_under_xdist(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_checks=CHECKS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2")
    result.stdout.fnmatch_lines(
        ["checks: 1 passed, 1 skipped, 1 failed", "*FAILED test_checks.py::test_gate", "SLO gate*"]
    )
    result.stderr.fnmatch_lines(["[[]gw?[]] synthmon: waiting for the app to report healthy*"])


def test_no_synthmon_section_when_no_check_ran(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_plain(): pass")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.stdout.no_fnmatch_line("*- synthmon -*")


# -- with Allure recording -------------------------------------------------------------------

RECORDED = f"""
import httpx
from pathlib import Path
from synthmon import evidence

def test_recorded():
    assert evidence.active()
    request = httpx.Request("GET", "http://127.0.0.1:1/health",
                            headers={{"X-Chaos-Token": "{TOKEN}"}})
    response = httpx.Response(503, json={{"status": "degraded", "password": "{PASSWORD}"}},
                              request=request)
    with evidence.step("Check application health: GET /health"):
        evidence.attach_exchange(response)

def test_evidence_of_a_failed_step():
    with evidence.step("Wait for HighErrorRate to fire",
                       after=lambda: evidence.attach_text("PromQL of HighErrorRate", "up = 0")):
        raise AssertionError("HighErrorRate did not fire")
"""


def allure_results(directory: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in directory.glob("*-result.json")]


def test_with_alluredir_steps_and_attachments_are_recorded_without_secrets(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_recorded=RECORDED)
    results = pytester.path / "allure-results"
    run = pytester.runpytest_subprocess("-p", "no:cacheprovider", f"--alluredir={results}")
    run.assert_outcomes(passed=1, failed=1)
    by_name = {r["name"]: r for r in allure_results(results)}
    step = by_name["test_recorded"]["steps"][0]
    assert step["name"] == "Check application health: GET /health"
    exchange_file = results / step["attachments"][0]["source"]
    text = exchange_file.read_text()
    assert "GET http://127.0.0.1:1/health" in text and "HTTP 503" in text
    failed = by_name["test_evidence_of_a_failed_step"]["steps"][0]
    assert failed["status"] == "failed" and failed["name"] == "Wait for HighErrorRate to fire"
    assert [a["name"] for a in failed["attachments"]] == ["PromQL of HighErrorRate"]
    for path in results.iterdir():
        content = path.read_text(errors="replace")
        assert TOKEN not in content and PASSWORD not in content, f"secret in {path.name}"
