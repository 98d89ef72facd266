"""Exemplars in the SLO gate, against a REAL Prometheus (``--enable-feature=exemplar-storage``)
scraping OpenMetrics with trace-ID exemplars, and the REAL Jaeger v2 holding those traces (sent
by the OpenTelemetry SDK's OTLP exporter).

The exporter serves one registry twice: ``/om`` as OpenMetrics (exemplars, ``_created``
series) and ``/text`` in the classic format without any ``_created`` line, scraped as jobs
``om`` and ``text``: the gate's numbers and the dashboards' series must be the same on both
(``_created`` disturbs neither).
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest as text_format
from prometheus_client.openmetrics.exposition import CONTENT_TYPE_LATEST as OM_TYPE
from prometheus_client.openmetrics.exposition import generate_latest as om_format

from synthmon.dashboards import panel_queries, problem
from synthmon.ports import HOST, free_ports
from synthmon.prom import Prometheus, wait_until
from synthmon.slo import SLOReport, evaluate
from synthmon.slo.exemplars import FEATURE, gate_exemplars, with_exemplars
from synthmon.slo.spec import parse_spec
from synthmon.traces.jaeger import JaegerClient
from tests._jaeger import Jaeger, running_jaeger
from tests._programs import require

pytestmark = pytest.mark.selftest

ROOT = Path(__file__).resolve().parents[1]
DASHBOARDS = ROOT / "examples/manager-app/monitoring/grafana/dashboards"
BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.75, 1.0)
SERVICE = "exemplar-app"
ROUTE = "/api/tasks/{task_id}"


def spec(job: str) -> object:
    return parse_spec(
        {"apiVersion": "synthmon/v1", "kind": "SLOSpec", "service": job, "selector": {"job": job},
         "objectives": [
             {"name": "p95-latency", "type": "latency", "percentile": 0.95, "threshold": 0.2},
             {"name": "error-rate", "type": "error_rate", "threshold": 0.01},
         ]},
        f"<{job} spec>",
    )  # fmt: skip


def _without_created(body: bytes) -> bytes:
    """The classic format as an exporter without ``_created`` series serves it."""
    return b"".join(line for line in body.splitlines(True) if b"_created" not in line)


class Exporter:
    """The reference app's duration histogram and request counter; every observation's
    exemplar is the trace ID of a real trace exported to Jaeger."""

    def __init__(self, otlp_url: str) -> None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor

        self.registry = CollectorRegistry()
        self.hist = Histogram("http_request_duration_seconds", "", ["method", "endpoint"],
                              buckets=BUCKETS, registry=self.registry)  # fmt: skip
        self.requests = Counter("http_requests", "", ["method", "endpoint", "status"],
                                registry=self.registry)  # fmt: skip
        self.provider = TracerProvider(resource=Resource.create({"service.name": SERVICE}))
        self.provider.add_span_processor(
            SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{otlp_url}/v1/traces", timeout=5))
        )
        self.tracer = self.provider.get_tracer("tests.test_slo_exemplars")
        registry = self.registry

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                om = self.path == "/om"
                body = om_format(registry) if om else _without_created(text_format(registry))
                self.send_response(200)
                self.send_header("Content-Type", OM_TYPE if om else "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.port = free_ports(1)[0]
        self.server = ThreadingHTTPServer((HOST, port := self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://{HOST}:{port}"

    def request(self, seconds: float, db_seconds: float) -> str:
        """One request of ``seconds``, ``db_seconds`` of it in its PostgreSQL span: a trace in
        Jaeger and an observation with its trace ID as the exemplar. Returns the trace ID."""
        from opentelemetry.trace import SpanKind, set_span_in_context

        end = time.time_ns()
        start = end - int(seconds * 1e9)
        server = self.tracer.start_span(f"GET {ROUTE}", kind=SpanKind.SERVER, start_time=start)
        inner = set_span_in_context(server)
        db_start = start + int(0.002 * 1e9)
        db = self.tracer.start_span("SELECT", inner, kind=SpanKind.CLIENT, start_time=db_start,
                                    attributes={"db.system": "postgresql"})  # fmt: skip
        db.end(db_start + int(db_seconds * 1e9))
        server.end(end)
        trace_id = format(server.get_span_context().trace_id, "032x")
        self.hist.labels("GET", ROUTE).observe(seconds, exemplar={"trace_id": trace_id})
        self.requests.labels("GET", ROUTE, "200").inc()
        return trace_id

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)
        self.provider.shutdown()


@contextmanager
def prometheus(tmp: Path, scrape: str, *flags: str) -> Iterator[Prometheus]:
    """Prometheus 2 on a free port with ``scrape`` (scrape_configs entries), 1 s scrapes."""
    binary = require("prometheus")
    config = tmp / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}\n"
        f"scrape_configs:\n{scrape}"
    )
    port = free_ports(1)[0]
    with (tmp / "prometheus.log").open("w") as log:
        proc = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp / 'data'}",
             f"--web.listen-address={HOST}:{port}", "--log.level=warn", *flags],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    prom = Prometheus(f"http://{HOST}:{port}", timeout=5)
    try:
        yield prom
    finally:
        prom.close()
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def job(name: str, port: int, path: str) -> str:
    return (
        f"  - job_name: {name}\n    metrics_path: {path}\n"
        f"    static_configs: [{{targets: ['{HOST}:{port}']}}]\n"
    )


@dataclass(frozen=True)
class Run:
    prom: Prometheus  # with exemplar storage: jobs om and text
    plain: Prometheus  # without it: job om
    jaeger: Jaeger
    window: tuple[float, float]
    slow: frozenset[str]  # trace IDs of the requests above 200 ms
    fast: frozenset[str]


def _count(prom: Prometheus, promql: str) -> float | None:
    samples = prom.query(promql)
    return samples[0].value if samples else None


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    tmp = tmp_path_factory.mktemp("exemplars")
    (tmp / "a").mkdir()
    (tmp / "b").mkdir()
    with running_jaeger(tmp) as jaeger:
        exporter = Exporter(jaeger.otlp_url)
        scrape = job("om", exporter.port, "/om") + job("text", exporter.port, "/text")
        try:
            with (
                prometheus(tmp / "a", scrape, f"--enable-feature={FEATURE}") as prom,
                prometheus(tmp / "b", job("om", exporter.port, "/om")) as plain,
            ):
                exporter.request(0.01, 0.005)  # series exist before the window
                for p, jobs in ((prom, 2), (plain, 1)):
                    wait_until(lambda p=p, jobs=jobs: _count(p, "count(up == 1)") == jobs, 30,
                               lambda p=p: f"up: {p.query('up')}", 0.2)  # fmt: skip
                time.sleep(1.5)
                start = time.time()
                time.sleep(1.2)  # a scrape inside the window before the traffic
                slow, fast = set(), set()
                for batch in range(4):  # one exemplar per bucket per scrape: spread them
                    fast |= {exporter.request(0.04, 0.01) for _ in range(20)}
                    seconds = (0.28, 0.6)[batch % 2]  # buckets le=0.3 and le=0.75
                    slow |= {exporter.request(seconds, seconds - 0.02) for _ in range(5)}
                    time.sleep(1.3)
                total = 'sum(http_requests_total{job="om"})'
                wait_until(lambda: _count(prom, total) == 101, 15, lambda: total, 0.2)
                time.sleep(2.2)  # every job scraped after the last request
                yield Run(prom, plain, jaeger, (start, time.time() - 0.5),
                          frozenset(slow), frozenset(fast))  # fmt: skip
        finally:
            exporter.close()


def gate(run: Run, job: str, with_jaeger: bool = True, prom: Prometheus | None = None) -> SLOReport:
    spec_ = spec(job)
    prom = prom or run.prom
    report = evaluate(spec_, prom, run.window)  # type: ignore[arg-type]
    with httpx.Client(timeout=5) as http:
        jaeger = JaegerClient(run.jaeger.query_url, http) if with_jaeger else None
        return with_exemplars(report, spec_, prom, jaeger)  # type: ignore[arg-type]


def test_a_forced_latency_violation_lists_exemplar_traces_that_exist_in_jaeger(run: Run) -> None:
    report = gate(run, "om")
    p95 = next(r for r in report.results if r.name == "p95-latency")
    assert p95.verdict == "fail", p95.reason  # 80 of 100 within 200 ms
    (found,) = report.exemplars
    assert found.objective == "p95-latency" and found.note == "", found.render()
    assert len(found.exemplars) >= 2, found.render()
    for exemplar in found.exemplars:
        assert exemplar.trace_id in run.slow, exemplar  # none of the fast ones
        assert exemplar.in_jaeger is True, exemplar
        assert exemplar.slowest_span == f"SELECT [{SERVICE}]", exemplar
        assert exemplar.slowest_self_ms is not None and exemplar.slowest_self_ms > 200
        assert exemplar.value_s > 0.2 and float(exemplar.bucket) > 0.2
    assert {e.bucket for e in found.exemplars} == {"0.3", "0.75"}
    text = report.render_table()
    first = found.exemplars[0]
    assert f"trace {first.trace_id}: slowest span SELECT [{SERVICE}] (self " in text
    saved = report.to_dict()["exemplars"]
    assert isinstance(saved, list) and saved[0]["exemplars"][0]["trace_id"] == first.trace_id


def test_without_exemplar_storage_the_gate_says_so_in_one_line(run: Run) -> None:
    report = gate(run, "om", prom=run.plain)
    (found,) = report.exemplars
    assert found.exemplars == ()
    assert found.note == (
        f"Prometheus {run.plain.shown_url} keeps no exemplars "
        f"(runs without --enable-feature={FEATURE})"
    )
    assert next(r for r in report.results if r.name == "p95-latency").verdict == "fail"


def test_without_a_trace_store_the_trace_ids_are_listed_alone(run: Run) -> None:
    (found,) = gate(run, "om", with_jaeger=False).exemplars
    assert found.note.startswith("no trace store here: trace IDs listed without their traces")
    assert found.exemplars and all(e.in_jaeger is None for e in found.exemplars)
    assert {e.trace_id for e in found.exemplars} <= run.slow


def test_traces_jaeger_lacks_are_reported_as_not_in_jaeger(run: Run, tmp_path: Path) -> None:
    spec_ = spec("om")
    with running_jaeger(tmp_path) as empty, httpx.Client(timeout=5) as http:
        elsewhere = JaegerClient(empty.query_url, http)
        (found,) = gate_exemplars(spec_, run.prom, run.window, elsewhere)  # type: ignore[arg-type]
    assert found.exemplars and all(e.in_jaeger is False for e in found.exemplars)
    n = len(found.exemplars)
    assert found.note == f"{n} of {n} not in Jaeger {empty.query_url}"
    assert found.exemplars[0].line().endswith(f"trace {found.exemplars[0].trace_id}: not in Jaeger")


def test_openmetrics_created_series_change_neither_the_gate_nor_the_dashboards(run: Run) -> None:
    created = 'count({__name__=~".+_created", job="om"})'
    assert (_count(run.prom, created) or 0) >= 2, "the om job is not scraped as OpenMetrics"
    assert _count(run.prom, 'count({__name__=~".+_created", job="text"})') is None
    om, text = gate(run, "om", with_jaeger=False), gate(run, "text", with_jaeger=False)
    for a, b in zip(om.results, text.results, strict=True):
        assert (a.verdict, a.measured, a.measured_text) == (b.verdict, b.measured, b.measured_text)
        # exact counts are equal; increase()'s extrapolation (info only) follows scrape times
        info = "histogram_quantile_s"
        assert {**a.details, info: None} == {**b.details, info: None}, a.name
        if a.details.get(info) is not None:  # latency rows only
            assert a.details[info] == pytest.approx(b.details[info], rel=0.02)
    queries = [q for q in panel_queries(DASHBOARDS, "1m") if "http_request" in q.promql]
    assert queries, "no http_request panel in the reference dashboards"
    for query in queries:
        series = {}
        for name in ("om", "text"):
            one = type(query)(
                **{**query.__dict__, "promql": query.promql.replace('job="app"', f'job="{name}"')}
            )
            assert problem(run.prom, one) is None, (name, one.promql)
            end = time.time()
            found = run.prom.query_range(one.promql, end - 60, end, 5)
            series[name] = sorted(
                tuple(sorted((k, v) for k, v in s.labels.items() if k not in ("job", "instance")))
                for s in found
            )
        assert series["om"] == series["text"], query.id
