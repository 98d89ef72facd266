"""The SLO engine against a REAL Prometheus scraping exporters whose observations we set.

One Prometheus (scrape_interval 1s, tmp storage, free port) scrapes one exporter per scenario
(job = scenario name). The timeline runs once per module: a pre-window batch that must be
excluded, ``start``, the scenario batches, a counter reset, ``end``. Each test then evaluates
a spec over exactly that window.
"""

from __future__ import annotations

import json
import math
import socket
import subprocess
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from synthmon import cli
from synthmon.errors import QueryError
from synthmon.prom import Prometheus, wait_until
from synthmon.slo import evaluate
from synthmon.slo.promql import quote, selector
from synthmon.slo.spec import load_spec, parse_spec

pytestmark = [
    pytest.mark.selftest,
]

BUCKETS = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.15,
    0.2,
    0.25,
    0.3,
    0.4,
    0.5,
    0.75,
    1,
    2.5,
    5,
    10,
)
EVIL = ['"} or vector(1) #', 'a\\b"c\nd\te', "}{job=~'.+'}", "é/ü\\\\"]
JOBS = ("fast", "slow", "interp", "errors", "restart", "evil", "linkcheck")
LINKCHECK_SPEC = Path(__file__).resolve().parents[1] / "examples/linkcheck/slo/slo.yaml"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class FakeApp:
    """The app's metric names with exactly the observations the test chooses.

    A custom collector: one lock covers a whole batch, so a scrape sees all of it or none.
    Labelled series appear on first use, like the app's.
    """

    endpoint_label = "endpoint"

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: dict[tuple[str, str, str], int] = {}
        self.hist: dict[tuple[str, str], list[float]] = {}  # per bucket, overflow, sum
        self.cpu_seconds, self.rss_bytes, self.limit_bytes = 0.0, 100e6, 1e9
        registry = CollectorRegistry(auto_describe=False)
        registry.register(self)
        self.port = free_port()
        self.server, _ = start_http_server(self.port, "127.0.0.1", registry=registry)

    def touch(self, endpoint: str) -> None:
        with self.lock:
            self.hist.setdefault(("GET", endpoint), [0.0] * (len(BUCKETS) + 2))

    def serve(self, endpoint: str, latencies: Iterable[float], status: str = "200") -> None:
        with self.lock:
            counts = self.hist.setdefault(("GET", endpoint), [0.0] * (len(BUCKETS) + 2))
            n = 0
            for latency in latencies:
                counts[next((i for i, le in enumerate(BUCKETS) if latency <= le), -2)] += 1
                counts[-1] += latency
                n += 1
            key = ("GET", endpoint, status)
            self.requests[key] = self.requests.get(key, 0) + n

    def restart(self) -> None:
        with self.lock:
            self.requests.clear()
            self.hist.clear()
            self.cpu_seconds = 0.0

    def collect(self) -> Iterator[Any]:
        with self.lock:
            route = self.endpoint_label
            req = CounterMetricFamily("http_requests", "", labels=["method", route, "status"])
            for req_labels, value in self.requests.items():
                req.add_metric(list(req_labels), value)
            hist = HistogramMetricFamily(
                "http_request_duration_seconds", "", labels=["method", route]
            )
            for labels, counts in self.hist.items():
                les = [*(repr(float(b)) for b in BUCKETS), "+Inf"]
                cumulative = [sum(counts[: i + 1]) for i in range(len(les))]
                hist.add_metric(list(labels), list(zip(les, cumulative, strict=True)), counts[-1])
            yield req
            yield hist
            yield CounterMetricFamily("process_cpu_seconds", "", value=self.cpu_seconds)
            yield GaugeMetricFamily("process_resident_memory_bytes", "", value=self.rss_bytes)
            yield GaugeMetricFamily("app_memory_limit_bytes", "", value=self.limit_bytes)


class InstrumentatorApp(FakeApp):
    """prometheus-fastapi-instrumentator's names (examples/linkcheck): the route on
    ``handler``, the status grouped ("2xx", "5xx")."""

    endpoint_label = "handler"


@dataclass(frozen=True)
class Run:
    prom: Prometheus
    url: str
    start: int
    end: int


def _wait_for(prom: Prometheus, promql: str, expected: float, deadline: float = 15) -> None:
    def value() -> float | None:
        samples = prom.query(promql)
        return samples[0].value if samples else None

    wait_until(lambda: value() == expected, deadline, lambda: f"{promql} = {value()}", 0.2)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    tmp = tmp_path_factory.mktemp("prometheus")
    apps = {job: InstrumentatorApp() if job == "linkcheck" else FakeApp() for job in JOBS}
    scrape = "".join(
        f"  - job_name: {job}\n    static_configs: [{{targets: ['127.0.0.1:{app.port}']}}]\n"
        for job, app in apps.items()
    )
    config = tmp / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}\n"
        f"scrape_configs:\n{scrape}"
    )
    port = free_port()
    log = (tmp / "prometheus.log").open("w")
    proc = subprocess.Popen(
        ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={tmp / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    prom = Prometheus(url, timeout=5)
    try:
        # Before the window: slow traffic that must NOT count, and a restart's old life.
        apps["fast"].serve("/api/tasks", [1.0] * 200)
        apps["restart"].serve("/api/tasks", [0.05] * 100)
        apps["interp"].touch("/api/tasks")
        try:  # Prometheus applies discovered targets every 5 s: the first scrape takes ~6 s
            _wait_for(prom, "count(up == 1)", len(JOBS), deadline=30)
        except QueryError as exc:
            log.flush()
            tail = (tmp / "prometheus.log").read_text()[-2000:]
            raise RuntimeError(f"{exc}; exit={proc.poll()}; prometheus log:\n{tail}") from None
        _wait_for(prom, 'sum(http_requests_total{job="fast"})', 200)
        _wait_for(prom, 'sum(http_requests_total{job="restart"})', 100)
        start = math.ceil(time.time())
        time.sleep(start + 1.2 - time.time())  # a scrape inside the window before traffic
        # True P95 150 ms (950th of 1000 is 0.15): 96% <= 0.2 s.
        apps["fast"].serve("/api/tasks", [0.1] * 900 + [0.15] * 60 + [0.3] * 40)
        apps["fast"].cpu_seconds += 0.5
        apps["fast"].rss_bytes = 0.5e9
        # True P95 250 ms: 90% <= 0.2 s.
        apps["slow"].serve("/api/tasks", [0.1] * 900 + [0.25] * 60 + [0.3] * 40)
        apps["slow"].cpu_seconds += 50.0
        apps["slow"].rss_bytes = 0.9e9
        # True P95 188 ms (96% <= 0.2 s) but the 900 fast logins are a series born in the
        # window: increase() drops its first sample, so histogram_quantile sees only
        # 60 x 188 ms + 40 x 240 ms and interpolates 0.2 + 0.05 * 35/40 = 243.75 ms.
        apps["interp"].serve("/api/tasks", [0.188] * 60 + [0.24] * 40)
        apps["interp"].serve("/api/login", [0.05] * 900)
        # 5% 5xx.
        apps["errors"].serve("/api/tasks", [0.05] * 950)
        apps["errors"].serve("/api/tasks", [0.05] * 50, status="500")
        apps["restart"].serve("/api/tasks", [0.05] * 50)
        for i, name in enumerate(EVIL):
            apps["evil"].serve(name, [0.05] * (30 + i))
        apps["evil"].serve("/api/tasks", [0.05] * 1000)
        # linkcheck-style: 5% of 1000 requests are "5xx" (grouped), all within 200 ms.
        apps["linkcheck"].serve("/v1/links/{link_id}", [0.05] * 900, status="2xx")
        apps["linkcheck"].serve("/v1/links/{link_id}", [0.05] * 50, status="5xx")
        apps["linkcheck"].serve("/v1/links/{link_id}/last", [0.1] * 50, status="2xx")
        apps["linkcheck"].cpu_seconds += 0.1
        _wait_for(prom, 'sum(http_requests_total{job="interp"})', 1000)
        _wait_for(prom, 'sum(http_requests_total{job="linkcheck"})', 1000)
        _wait_for(prom, 'sum(http_requests_total{job="restart"})', 150)
        apps["restart"].restart()  # counters back to 0 mid-window
        apps["restart"].serve("/api/tasks", [0.05] * 30)
        _wait_for(prom, 'sum(http_requests_total{job="restart"})', 30)
        _wait_for(
            prom, 'sum(http_requests_total{job="evil"})', 1000 + sum(30 + i for i in range(4))
        )
        time.sleep(1.1)  # a second sample of every series born in the window
        yield Run(prom, url, start, math.ceil(time.time()))
    finally:
        prom.close()
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        for app in apps.values():
            app.server.shutdown()
            app.server.server_close()


BASELINE = [
    {"name": "p95", "type": "latency", "percentile": 0.95, "threshold": 0.2},
    {"name": "errors", "type": "error_rate", "threshold": 0.01},
    {"name": "cpu", "type": "cpu", "threshold": 0.7},
    {"name": "memory", "type": "memory", "threshold": 0.8},
]


def gate(run: Run, job: str, objectives: list[dict[str, Any]] = BASELINE, client: Any = None):  # type: ignore[no-untyped-def]
    doc = {"apiVersion": "synthmon/v1", "kind": "SLOSpec", "service": job,
           "selector": {"job": job}, "objectives": objectives}  # fmt: skip
    report = evaluate(parse_spec(doc, f"<{job}>"), run.prom, (run.start, run.end), client)
    return report, {r.name: r for r in report.results}


def test_true_p95_150ms_passes_and_pre_window_traffic_is_excluded(run: Run) -> None:
    report, rows = gate(run, "fast")
    assert rows["p95"].verdict == "pass", rows["p95"].reason
    assert rows["p95"].details["requests"] == 1000  # not 1200: the 200 slow ones came before
    assert rows["p95"].details["fast"] == 960
    assert rows["p95"].details["exact"] is True
    assert rows["cpu"].measured == pytest.approx(0.5 / (run.end - run.start))
    assert rows["memory"].measured == pytest.approx(0.5)
    assert report.verdict == "pass" and report.exit_code == 0
    # Fractional instants are queried as given (no scrape landed in the trimmed edges).
    spec = parse_spec({"apiVersion": "synthmon/v1", "kind": "SLOSpec", "service": "fast",
                       "selector": {"job": "fast"}, "objectives": BASELINE[:1]})  # fmt: skip
    trimmed = evaluate(spec, run.prom, (run.start + 0.25, run.end - 0.125))
    assert (trimmed.start, trimmed.end) == (run.start + 0.25, run.end - 0.125)
    assert trimmed.results[0].details["requests"] == 1000
    assert f"@ {run.start}.25" in trimmed.results[0].promql[0]
    # No bucket at 180 ms: decided with le=150 ms (960 of 1000), the bound stated.
    _, rows = gate(run, "fast", [{"name": "p95-180", "type": "latency", "percentile": 0.95,
                                  "threshold": 0.18}])  # fmt: skip
    assert rows["p95-180"].verdict == "pass" and rows["p95-180"].details["exact"] is False
    assert "no histogram bucket at 180 ms: decided with le=150 ms" in rows["p95-180"].reason


def test_true_p95_250ms_fails_on_latency_cpu_and_memory(run: Run) -> None:
    report, rows = gate(run, "slow")
    assert rows["p95"].verdict == "fail"
    assert rows["p95"].measured == pytest.approx(0.9)
    assert rows["errors"].verdict == "pass"
    assert rows["cpu"].verdict == "fail"  # 50 CPU-seconds in a few seconds
    assert rows["memory"].verdict == "fail" and rows["memory"].measured == pytest.approx(0.9)
    assert report.exit_code == 1


def test_exact_method_passes_p95_188ms_where_histogram_quantile_says_over_200ms(run: Run) -> None:
    _, rows = gate(run, "interp")
    row = rows["p95"]
    assert row.verdict == "pass", row.reason
    assert (row.details["fast"], row.details["requests"]) == (960, 1000)
    hq = row.details["histogram_quantile_s"]
    assert isinstance(hq, float) and hq > 0.2, row.reason  # the dashboard number would fail it
    assert hq == pytest.approx(0.24375, rel=1e-6)
    assert "histogram_quantile P95 ~ 243.8 ms" in row.reason


def test_five_percent_5xx_fails_on_error_rate(run: Run) -> None:
    report, rows = gate(run, "errors")
    assert rows["errors"].verdict == "fail"
    assert rows["errors"].measured == pytest.approx(0.05)
    assert rows["p95"].verdict == "pass"
    assert report.exit_code == 1


def test_locust_figures_agreeing_and_disagreeing(run: Run) -> None:
    from synthmon.slo import ClientStats

    _, rows = gate(run, "errors", client=ClientStats(1000, 50, 52.0))
    assert "disagreement" not in rows["errors"].reason
    assert "Locust P95 52 ms" in rows["p95"].reason
    _, rows = gate(run, "errors", client=ClientStats(1000, 0, 52.0))
    assert rows["errors"].verdict == "fail"
    assert "pipeline disagreement: Prometheus error rate 5.00%, Locust failure rate 0.00%" in (
        rows["errors"].reason
    )
    _, rows = gate(run, "fast", client=ClientStats(1200, 0, 150.0))
    assert rows["p95"].verdict == "fail"
    assert "Prometheus counted 1000 requests, Locust sent 1200" in rows["p95"].reason


def test_counter_reset_mid_window_is_counted_exactly(run: Run) -> None:
    _, rows = gate(run, "restart", [{"name": "errors", "type": "error_rate", "threshold": 0.01,
                                     "min_requests": 1}])  # fmt: skip
    assert rows["errors"].details["requests"] == 80  # 50 before the restart + 30 after
    assert any(q.startswith("http_requests_total") and "[" in q for q in rows["errors"].promql)


def test_wrong_selector_is_an_error_with_no_data_never_a_pass(run: Run) -> None:
    report, _rows = gate(run, "no-such-job")
    assert {r.verdict for r in report.results} == {"error"}
    assert all("no data" in r.reason for r in report.results), [r.reason for r in report.results]
    assert report.exit_code == 2


def test_hostile_endpoint_names_select_exactly_their_series(run: Run) -> None:
    objectives = [
        {"name": f"e{i}", "type": "error_rate", "threshold": 0.01, "endpoint": name,
         "min_requests": 1}
        for i, name in enumerate(EVIL)
    ]  # fmt: skip
    _, rows = gate(run, "evil", objectives)
    for i in range(len(EVIL)):
        assert rows[f"e{i}"].details["requests"] == 30 + i, rows[f"e{i}"].reason
    # Where no such endpoint exists the injection would have been `vector(1)`: it is no data.
    _, rows = gate(run, "fast", objectives[:1])
    assert rows["e0"].verdict == "error" and "no data" in rows["e0"].reason


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=st.text(max_size=30))
def test_quoted_strings_round_trip_through_prometheus(run: Run, value: str) -> None:
    """Prometheus itself unquotes our literal back to the same value (label_replace)."""
    literal = quote(value.replace("$", "$$"))  # $ is label_replace's group syntax
    samples = run.prom.query(f'label_replace(vector(1), "v", {literal}, "", "")')
    assert samples[0].labels.get("v", "") == value


def test_adapter_against_real_prometheus(run: Run) -> None:
    targets = run.prom.targets()
    assert {t.job for t in targets} == set(JOBS) and {t.health for t in targets} == {"up"}
    assert run.prom.alerts() == [] and run.prom.rules() == []
    with pytest.raises(QueryError, match=r"HTTP 400: bad_data: .*parse error"):
        run.prom.query("sum(")
    with pytest.raises(QueryError, match=r"^no data: fast p95: .* returned nothing$"):
        run.prom.query_one(selector("up", {"job": "nope"}), what="fast p95")
    series = run.prom.query_range('up{job="fast"}', run.start, run.end, 1)
    assert len(series) == 1 and len(series[0].points) == run.end - run.start + 1


def test_cli_gate_end_to_end(run: Run, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "slow.yaml"
    spec.write_text(
        "apiVersion: synthmon/v1\nkind: SLOSpec\nservice: slow\nselector: {job: slow}\n"
        "objectives:\n  - {name: p95, type: latency, percentile: 0.95, threshold: 0.2}\n"
    )
    window = tmp_path / "load-window.json"
    window.write_text(json.dumps({"start": run.start, "end": run.end}))
    report = tmp_path / "slo-report.json"
    argv = ["gate", "--prometheus-url", run.url, "--spec", str(spec),
            "--window-file", str(window), "--report", str(report)]  # fmt: skip
    assert cli.main(argv) == 1
    out = capsys.readouterr().out
    assert "p95" in out and "FAIL" in out and "verdict: FAIL (exit 1)" in out
    doc = json.loads(report.read_text())
    assert doc["verdict"] == "fail" and doc["objectives"][0]["promql"]
    spec.write_text(spec.read_text().replace("job: slow", "job: nope"))
    assert cli.main(argv) == 2


def linkcheck_gate(run: Run, client: Any = None, **metrics: Any):  # type: ignore[no-untyped-def]
    """examples/linkcheck/slo/slo.yaml (job linkcheck), ``metrics`` changed in its block."""
    doc = yaml.safe_load(LINKCHECK_SPEC.read_text())
    doc["metrics"].update(metrics)
    spec = parse_spec(doc, str(LINKCHECK_SPEC))
    report = evaluate(spec, run.prom, (run.start, run.end), client)
    return report, {r.name: r for r in report.results}


def test_linkcheck_spec_counts_grouped_5xx_on_handler(run: Run) -> None:
    spec = load_spec(LINKCHECK_SPEC)
    assert spec.metrics.error_status == "5xx" and spec.metrics.endpoint_label == "handler"
    report = evaluate(spec, run.prom, (run.start, run.end))
    rows = {r.name: r for r in report.results}
    errors = rows["error-rate"]
    assert (errors.details["errors"], errors.details["requests"]) == (50, 1000), errors.reason
    assert errors.verdict == "fail" and errors.measured == pytest.approx(0.05)
    assert 'status=~"5xx"' in errors.reason and "status values seen: 2xx, 5xx" in errors.reason
    assert rows["p95-latency"].verdict == "pass", rows["p95-latency"].reason
    check = rows["p95-latency-check"]  # the endpoint selected on handler="/v1/links/{link_id}"
    assert check.verdict == "pass" and check.details["requests"] == 950, check.reason
    assert any('handler="/v1/links/{link_id}"' in q for q in check.promql)
    assert rows["cpu-average"].verdict == "pass", rows["cpu-average"].reason
    assert report.exit_code == 1


def test_status_code_regex_counts_no_grouped_errors_and_locust_disagrees(run: Run) -> None:
    """Today's rule (5\\d\\d) on grouped statuses is 0 errors, a silent pass; the Locust
    recount over the same window is what catches it. The configured 5xx agrees with Locust."""
    from synthmon.slo import ClientStats

    _, rows = linkcheck_gate(run, error_status=r"5\d\d")
    assert rows["error-rate"].details["errors"] == 0
    assert rows["error-rate"].verdict == "pass"  # what a code-only rule would have concluded
    locust = ClientStats(1000, 50, 60.0)  # Locust saw the 50 failures
    _, rows = linkcheck_gate(run, locust, error_status=r"5\d\d")
    assert rows["error-rate"].verdict == "fail"
    assert "pipeline disagreement: Prometheus error rate 0.00%, Locust failure rate 5.00%" in (
        rows["error-rate"].reason
    )
    _, rows = linkcheck_gate(run, locust)
    assert "disagreement" not in rows["error-rate"].reason
    assert rows["error-rate"].verdict == "fail"  # 5% > 1%: a real failure, not a pipeline one
    # The default 5.. also matches a grouped "5xx" (`.` is any character).
    _, rows = linkcheck_gate(run, error_status="5..")
    assert rows["error-rate"].details["errors"] == 50


@pytest.mark.parametrize(
    ("metrics", "objectives"),
    [
        ({"status_label": "code"}, {"error-rate"}),
        ({"endpoint_label": "endpoint"}, {"p95-latency-check"}),
        ({"request_counter": "requests_total"}, {"error-rate"}),
        ({"duration_histogram": "request_seconds"}, {"p95-latency", "p95-latency-check"}),
        ({"cpu_counter": "cpu_seconds_total"}, {"cpu-average"}),
    ],
)
def test_wrong_metric_or_label_name_is_no_data_never_a_pass(
    run: Run, metrics: dict[str, str], objectives: set[str]
) -> None:
    report, rows = linkcheck_gate(run, **metrics)
    for name in objectives:
        assert rows[name].verdict == "error", rows[name].reason
        assert "no data" in rows[name].reason, rows[name].reason
    assert report.exit_code == 2
