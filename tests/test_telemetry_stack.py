"""The telemetry kinds on a real processes stack: Jaeger v2 (the binary synthmon.gobuild builds)
answers the runbook's health check on `/`, an OTLP/HTTP span sent to the stack's otlp_url is
found through Jaeger's query API, an OTLP log record sent to the same endpoint reaches
VictoriaLogs through the collector's logs pipeline; with the collector stopped, the health
check fails naming it."""

from __future__ import annotations

import logging
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from synthmon.gobuild import jaeger_binary, victorialogs_binary
from synthmon.health import fetch
from synthmon.settings import Settings
from synthmon.stack import Stack
from synthmon.stack.stack import embedded_stack, new_run_dir
from synthmon.waiting import wait_until
from tests._programs import require

SERVICE_NAME = "telemetry-probe"
PROJECT = f"""
name: telemetry
services:
  logs: {{kind: victorialogs}}
  jaeger: {{kind: jaeger, depends_on: [logs]}}
  probe:
    kind: command
    command: ["${{python}}", "-m", "http.server", "--bind", "${{self.host}}", "${{self.port}}"]
    env:
      OTEL_EXPORTER_OTLP_ENDPOINT: "${{jaeger.url}}"
      QUERY_URL: "${{jaeger.query.url}}"
      HEALTH_PORT: "${{jaeger.health.port}}"
    depends_on: [jaeger]
target: probe
telemetry: {{service_name: {SERVICE_NAME}, traces: jaeger, logs: logs}}
monitoring: {{prometheus_yml: prometheus.yml, rules: rules, alertmanager_yml: alertmanager.yml}}
scrape_jobs: [prometheus]
"""
FILES = {
    "prometheus.yml": "scrape_configs: []\n",
    "rules/none.yml": "groups: []\n",
    "alertmanager.yml": "route: {receiver: nobody}\nreceivers: [{name: nobody}]\n",
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One processes stack: VictoriaLogs, Jaeger forwarding logs to it, a probe (torn down)."""
    for program in ("prometheus", "prometheus-alertmanager"):
        require(program)
    jaeger_binary(), victorialogs_binary()  # built once per machine (make go-tools)
    base = tmp_path_factory.mktemp("telemetry")
    project = base / "project"
    for name, text in {**FILES, "synthmon.yaml": PROJECT}.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(textwrap.dedent(text))
    values = {"project": str(project), "stack": "processes", "run_dir": str(base / "runs")}
    settings = Settings.from_values(lambda o: values.get(o.name), {})
    (base / "runs").mkdir()
    with embedded_stack(settings, new_run_dir(base / "runs")) as running:
        yield running


def test_the_stack_knows_where_its_telemetry_is(stack: Stack) -> None:
    assert stack.otlp_url == stack.urls["jaeger"]
    for url in (stack.jaeger_url, stack.otel_health_url, stack.logs_url):
        assert url is not None and url.startswith("http://127.0.0.1:")
    assert stack.otel_health_url is not None and stack.otel_health_url.endswith("/")
    assert stack.logs_api == "victorialogs"
    assert 0 < stack.telemetry_delay_s < 5
    assert stack.runner is not None
    env = stack.runner.services["probe"].env
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == stack.otlp_url
    assert env["QUERY_URL"] == stack.jaeger_url
    assert stack.otel_health_url == f"http://127.0.0.1:{env['HEALTH_PORT']}/"


def test_the_collector_health_answers_on_slash(stack: Stack) -> None:
    assert stack.otel_health_url is not None
    response = httpx.get(stack.otel_health_url, timeout=5)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "Server available"
    logs = httpx.get(f"{stack.logs_url}/health", timeout=5)
    assert logs.status_code == 200, logs.text


def _resource(name: str) -> Resource:
    return Resource.create({"service.name": name})


def test_an_otlp_span_is_found_through_the_query_api(stack: Stack) -> None:
    provider = TracerProvider(resource=_resource(SERVICE_NAME))
    provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(f"{stack.otlp_url}/v1/traces"))
    )
    with provider.get_tracer("t1").start_as_current_span("GET /probe") as span:
        with provider.get_tracer("t1").start_as_current_span("SELECT probe"):
            pass
        trace_id = f"{span.get_span_context().trace_id:032x}"
    provider.shutdown()

    def found() -> list[str]:
        answer = httpx.get(f"{stack.jaeger_url}/api/traces/{trace_id}", timeout=5)
        if answer.status_code != 200:
            return []
        return sorted(s["operationName"] for t in answer.json()["data"] for s in t["spans"])

    wait_until(
        lambda: found() == ["GET /probe", "SELECT probe"],
        timeout_s=stack.telemetry_delay_s + 10,
        interval_s=0.2,
        what=f"trace {trace_id} in {stack.jaeger_url}",
        describe=lambda: f"spans {found()}",
    )
    services = httpx.get(f"{stack.jaeger_url}/api/services", timeout=5).json()["data"]
    assert SERVICE_NAME in services


def test_an_otlp_log_record_reaches_victorialogs_through_the_collector(stack: Stack) -> None:
    provider = LoggerProvider(resource=_resource(SERVICE_NAME))
    provider.add_log_record_processor(
        SimpleLogRecordProcessor(OTLPLogExporter(f"{stack.otlp_url}/v1/logs"))
    )
    logger = logging.getLogger("t1.telemetry")
    logger.propagate = False
    handler = LoggingHandler(logger_provider=provider)
    logger.addHandler(handler)
    try:
        logger.error("disk quota nearly exhausted on probe-7")
    finally:
        logger.removeHandler(handler)
        provider.shutdown()
    query = f'service.name:"{SERVICE_NAME}" "probe-7"'

    def lines() -> list[str]:
        answer = httpx.post(
            f"{stack.logs_url}/select/logsql/query", data={"query": query}, timeout=5
        )
        return [line for line in answer.text.splitlines() if line.strip()]

    wait_until(
        lambda: len(lines()) == 1,
        timeout_s=stack.telemetry_delay_s + 10,
        interval_s=0.2,
        what=f"{query} in {stack.logs_url}",
        describe=lambda: f"lines {lines()}",
    )
    assert '"severity_text":"ERROR"' in lines()[0]


def test_with_the_collector_stopped_its_health_check_fails_naming_it(stack: Stack) -> None:
    assert stack.runner is not None and stack.otel_health_url is not None
    stack.runner.stop("jaeger")
    try:
        with httpx.Client(timeout=2) as http, pytest.raises(AssertionError) as failed:
            response = fetch(http, stack.otel_health_url, "otel")
            assert response.status_code == 200
        assert f"otel: GET {stack.otel_health_url} failed: ConnectError" in str(failed.value)
    finally:
        stack.runner.restart("jaeger")
    assert httpx.get(stack.otel_health_url, timeout=5).status_code == 200


def test_the_rendered_config_is_one_the_real_jaeger_accepts(tmp_path: Path) -> None:
    import subprocess

    from synthmon.stack.jaeger_config import JaegerListen, render_jaeger_config

    config = tmp_path / "jaeger.yaml"
    config.write_text(render_jaeger_config(JaegerListen.on("0.0.0.0"), "http://logs:9428"))
    done = subprocess.run(
        [str(jaeger_binary()), "validate", "--config", f"file:{config}"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    config.write_text(render_jaeger_config(JaegerListen.on("0.0.0.0")).replace("use_v2", "use_2"))
    broken = subprocess.run(
        [str(jaeger_binary()), "validate", "--config", f"file:{config}"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert broken.returncode != 0, "a config with a typo must not validate"
    assert "use_2" in broken.stderr


def test_prometheus_keeps_exemplars(stack: Stack) -> None:
    flags = httpx.get(f"{stack.prometheus_url}/api/v1/status/flags", timeout=5).json()["data"]
    assert "exemplar-storage" in flags["enable-feature"], flags["enable-feature"]
