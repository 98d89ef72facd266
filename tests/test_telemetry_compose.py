"""The example's compose file with its Jaeger and VictoriaLogs (the images images/build.sh makes):
the compose backend finds them through the project's `telemetry:` names on their published
ports, the collector's health answers on `/`, a span and a log sent as OTLP/HTTP reach Jaeger's
query API and (through the mounted config's logs pipeline) VictoriaLogs, and Prometheus keeps
exemplars."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from synthmon.settings import Settings
from synthmon.stack import Stack
from synthmon.stack.stack import open_stack
from synthmon.waiting import wait_until
from tests._engine import engine_with

ROOT = Path(__file__).resolve().parents[1]
PROJECT = ROOT / "examples" / "manager-app"
USED = ("postgres", "redis", "prometheus", "alertmanager", "pushgateway", "app", "tools",
        "jaeger", "victorialogs")  # fmt: skip

pytestmark = [pytest.mark.selftest, pytest.mark.xdist_group("containers")]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    images = Settings().images
    found = engine_with({k: images[k] for k in USED}, "compose backend")
    values = {"stack": "compose", "project": str(PROJECT),
              "run_dir": str(tmp_path_factory.mktemp("compose-telemetry"))}  # fmt: skip
    settings = Settings.from_values(lambda o: values.get(o.name), {"DOCKER_HOST": found.url})
    with open_stack(settings) as running:
        yield running


RESOURCE = {"attributes": [{"key": "service.name", "value": {"stringValue": "compose-probe"}}]}


def test_the_compose_stack_s_telemetry_takes_a_span_and_a_log(stack: Stack) -> None:
    assert stack.otel_health_url and stack.jaeger_url and stack.otlp_url and stack.logs_url
    assert httpx.get(stack.otel_health_url, timeout=5).status_code == 200
    trace_id, now = "6c8efff798038103d269b633813fc60c", str(time.time_ns())
    span = {"traceId": trace_id, "spanId": "fee19b7ec3c1b174", "name": "GET /compose",
            "kind": 2, "startTimeUnixNano": now, "endTimeUnixNano": now}  # fmt: skip
    record = {"timeUnixNano": now, "severityText": "ERROR", "body": {"stringValue": "compose-7"}}
    for signal, body in (
        ("traces", {"resourceSpans": [{"resource": RESOURCE, "scopeSpans": [{"spans": [span]}]}]}),
        ("logs", {"resourceLogs": [{"resource": RESOURCE,
                                    "scopeLogs": [{"logRecords": [record]}]}]}),
    ):  # fmt: skip
        answer = httpx.post(f"{stack.otlp_url}/v1/{signal}", json=body, timeout=5)
        assert answer.status_code == 200, answer.text
    query = f"{stack.jaeger_url}/api/traces/{trace_id}"

    def spans() -> list[str]:
        answer = httpx.get(query, timeout=5)
        data = (answer.json().get("data") or []) if answer.status_code == 200 else []
        return [s["operationName"] for t in data for s in t["spans"]]

    wait_until(lambda: spans() == ["GET /compose"], timeout_s=15, interval_s=0.2, what=query)
    logs = f"{stack.logs_url}/select/logsql/query"

    def lines() -> list[dict[str, str]]:
        answer = httpx.post(logs, data={"query": 'service.name:"compose-probe"'}, timeout=5)
        return [json.loads(line) for line in answer.text.splitlines() if line.strip()]

    wait_until(lambda: len(lines()) == 1, timeout_s=15, interval_s=0.2, what=logs)


def test_prometheus_keeps_exemplars(stack: Stack) -> None:
    flags = httpx.get(f"{stack.prometheus_url}/api/v1/status/flags", timeout=5).json()["data"]
    assert "exemplar-storage" in flags["enable-feature"], flags["enable-feature"]
