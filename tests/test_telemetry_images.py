"""The Jaeger and VictoriaLogs images (images/build.sh: the real binaries behind the official
images' contracts) run by the containers backend as the telemetry kinds: the collector's health
answers on `/`, a span and a log record sent as OTLP/HTTP are found in Jaeger's query API and in
VictoriaLogs. Same Services as the processes backend, from the images the settings name."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from synthmon.ports import free_ports
from synthmon.project import ServiceSpec
from synthmon.settings import Settings
from synthmon.stack import telemetry
from synthmon.stack.containers import ContainerRunner
from synthmon.waiting import wait_until
from tests._engine import engine_with

HOST = "127.0.0.1"
NAMES = ("logs", "jaeger", "jaeger_otlp_grpc", "jaeger_query", "jaeger_query_grpc", "jaeger_health")


@pytest.fixture(scope="module")
def ports(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, int]]:
    images = {k: v for k, v in Settings().images.items() if k in ("jaeger", "victorialogs")}
    found = engine_with(images, "the telemetry images")
    ports = dict(zip(NAMES, free_ports(len(NAMES)), strict=True))
    runner = ContainerRunner(tmp_path_factory.mktemp("telemetry-images"), 60, found)
    try:
        runner.start(
            telemetry.victorialogs_container(
                ServiceSpec("logs", kind="victorialogs"), ports, HOST, images["victorialogs"]
            )
        )
        runner.start(
            telemetry.jaeger_container(
                ServiceSpec("jaeger", kind="jaeger"), ports, HOST,
                f"http://{HOST}:{ports['logs']}", images["jaeger"],
            )
        )  # fmt: skip
        yield ports
    finally:
        runner.stop_all()


def _otlp(ports: dict[str, int], signal: str, body: dict[str, object]) -> None:
    answer = httpx.post(f"http://{HOST}:{ports['jaeger']}/v1/{signal}", json=body, timeout=5)
    assert answer.status_code == 200, answer.text


RESOURCE = {"attributes": [{"key": "service.name", "value": {"stringValue": "image-probe"}}]}


def test_the_images_answer_health_and_take_a_span_and_a_log(ports: dict[str, int]) -> None:
    health = httpx.get(f"http://{HOST}:{ports['jaeger_health']}/", timeout=5)
    assert health.status_code == 200, health.text
    trace_id, now = "5b8efff798038103d269b633813fc60c", str(__import__("time").time_ns())
    span = {"traceId": trace_id, "spanId": "eee19b7ec3c1b174", "name": "GET /image",
            "kind": 2, "startTimeUnixNano": now, "endTimeUnixNano": now}  # fmt: skip
    _otlp(ports, "traces", {"resourceSpans": [{"resource": RESOURCE,
                                               "scopeSpans": [{"spans": [span]}]}]})  # fmt: skip
    record = {"timeUnixNano": now, "severityText": "ERROR", "body": {"stringValue": "image-7"}}
    _otlp(ports, "logs", {"resourceLogs": [{"resource": RESOURCE,
                                            "scopeLogs": [{"logRecords": [record]}]}]})  # fmt: skip
    query = f"http://{HOST}:{ports['jaeger_query']}/api/traces/{trace_id}"

    def spans() -> list[str]:
        answer = httpx.get(query, timeout=5)
        data = answer.json().get("data") or [] if answer.status_code == 200 else []
        return [s["operationName"] for t in data for s in t["spans"]]

    wait_until(lambda: spans() == ["GET /image"], timeout_s=10, interval_s=0.2, what=query)
    logs = f"http://{HOST}:{ports['logs']}/select/logsql/query"

    def lines() -> list[dict[str, str]]:
        answer = httpx.post(logs, data={"query": 'service.name:"image-probe"'}, timeout=5)
        return [json.loads(line) for line in answer.text.splitlines() if line.strip()]

    wait_until(lambda: len(lines()) == 1, timeout_s=10, interval_s=0.2, what=logs)
    assert lines()[0]["_msg"] == "image-7"


def test_the_jaeger_image_runs_its_default_config(tmp_path: Path) -> None:
    """The image's own CMD (the all-in-one config on Jaeger's ports) is one it accepts."""
    images = {k: v for k, v in Settings().images.items() if k == "jaeger"}
    found = engine_with(images, "the Jaeger image")
    client = found.client()
    try:
        out = client.containers.run(
            images["jaeger"], ["validate", "--config", "/cmd/jaeger/config.yaml"], remove=True,
            stderr=True, network_mode="none",
        )  # fmt: skip
    finally:
        client.close()
    assert b"error" not in out.lower(), out
