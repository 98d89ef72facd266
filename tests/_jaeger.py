"""The real Jaeger v2 binary on free loopback ports, and a small target traced with the real
OpenTelemetry SDK exporting OTLP/HTTP to it: what the trace tests run against.

The config is the stack's own (synthmon.stack.jaeger_config): OTLP receivers, a batch processor
with a short timeout, memory storage, the query API, and the health endpoint in legacy mode
(``GET /`` answers 200, the runbook's ``curl :13133/``).
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from synthmon.gobuild import jaeger_binary
from synthmon.ports import HOST, free_ports
from synthmon.stack.jaeger_config import JaegerListen, render_jaeger_config
from synthmon.waiting import wait_until

BATCH_TIMEOUT_S = 0.1


@dataclass
class Jaeger:
    query_url: str  # the query API and UI (16686)
    otlp_url: str  # OTLP/HTTP base (4318)
    health_url: str  # the health endpoint (13133), with its path
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


@contextmanager
def running_jaeger(tmp: Path) -> Iterator[Jaeger]:
    """Jaeger v2 on free ports until the block ends (stopped, by its own PID, on exit)."""
    health, query, query_grpc, grpc, http = free_ports(5)
    ports = {"health": health, "query": query, "query_grpc": query_grpc, "otlp_grpc": grpc}
    config = tmp / "jaeger.yaml"
    listen = JaegerListen.on(HOST, ports, http)
    config.write_text(render_jaeger_config(listen, batch_timeout_s=BATCH_TIMEOUT_S))
    log = tmp / "jaeger.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(jaeger_binary()), "--config", f"file:{config}"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    jaeger = Jaeger(
        f"http://{HOST}:{query}", f"http://{HOST}:{http}", f"http://{HOST}:{health}/", process, log
    )
    try:
        wait_until(
            lambda: _ready(jaeger),
            timeout_s=30,
            what=f"Jaeger on {jaeger.query_url}",
            describe=lambda: log.read_text(errors="replace")[-500:],
        )
        yield jaeger
    finally:
        jaeger.stop()


def _ready(jaeger: Jaeger) -> bool:
    if jaeger.process.poll() is not None:
        raise RuntimeError(f"Jaeger exited: {jaeger.log.read_text(errors='replace')[-1000:]}")
    try:
        health = httpx.get(jaeger.health_url, timeout=1).status_code == 200
        return health and httpx.get(f"{jaeger.query_url}/api/v3/services", timeout=1).is_success
    except httpx.HTTPError:
        return False


# -- a target traced with the OpenTelemetry SDK ------------------------------------------------

#: What the reference app's request of a task shows: its server span, then PostgreSQL, Redis
#: and the upstream HTTP client as children. A test drops some to break the trace.
SPANS = {
    "postgresql": ("SELECT", {"db.system": "postgresql"}),
    "redis": ("GET", {"db.system": "redis"}),
    "upstream": ("GET", {"http.request.method": "GET", "url.full": "http://127.0.0.1:9/x"}),
}


@dataclass
class TracedTarget:
    url: str
    children: set[str]  # which of SPANS each request makes (a test may change it)
    delay_s: float = 0.0  # time in the PostgreSQL span (a slow request)


@contextmanager
def traced_target(
    otlp_url: str | None, service: str = "demo-app", schedule_delay_ms: int = 200
) -> Iterator[TracedTarget]:
    """An HTTP server whose every request is a server span continuing the caller's
    ``traceparent`` with SPANS' children, exported in batches to ``otlp_url`` (None: not
    exported: the spans are made and dropped, as an app without an endpoint does)."""
    import time

    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.propagate import extract
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.trace import SpanKind

    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    if otlp_url is not None:
        exporter = OTLPSpanExporter(endpoint=f"{otlp_url}/v1/traces", timeout=2)
        provider.add_span_processor(
            BatchSpanProcessor(exporter, schedule_delay_millis=schedule_delay_ms)
        )
    tracer = provider.get_tracer("tests._jaeger")
    port = free_ports(1)[0]
    target = TracedTarget(f"http://{HOST}:{port}", set(SPANS))

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            context = extract(dict(self.headers.items()))
            with tracer.start_as_current_span(
                f"GET {self.path}", context=context, kind=SpanKind.SERVER,
                attributes={"http.route": self.path, "http.request.method": "GET"},
            ):  # fmt: skip
                for child in sorted(target.children):
                    name, attrs = SPANS[child]
                    with tracer.start_as_current_span(name, kind=SpanKind.CLIENT, attributes=attrs):
                        if child == "postgresql" and target.delay_s:
                            time.sleep(target.delay_s)
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer((HOST, port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield target
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
        provider.shutdown()
