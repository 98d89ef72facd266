"""Real Jaeger v2 (traces, and the collector's logs pipeline) and VictoriaLogs for the app's
telemetry tests: the binaries synthmon.gobuild builds, on free 127.0.0.1 ports, ended by PID.

The Jaeger config is the minimum the tests need (OTLP/HTTP in, memory storage, the query API,
logs forwarded to VictoriaLogs over otlphttp); the stack's own config is synthmon's business.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from synthmon import gobuild
from synthmon.ports import free_ports
from synthmon.waiting import NotYet, wait_until

HOST = "127.0.0.1"
STATEMENT_KEYS = ("db.statement", "db.query.text", "db.statement.parameters")
BATCH_TIMEOUT = "100ms"

JAEGER_CONFIG = """
service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces: {{receivers: [otlp], processors: [batch], exporters: [jaeger_storage_exporter]}}
    logs: {{receivers: [otlp], processors: [batch], exporters: [otlphttp/logs]}}
  telemetry: {{metrics: {{level: none}}, logs: {{level: warn}}}}
extensions:
  jaeger_query:
    storage: {{traces: mem}}
    http: {{endpoint: "{host}:{query}"}}
    grpc: {{endpoint: "{host}:{query_grpc}"}}
  jaeger_storage:
    backends: {{mem: {{memory: {{max_traces: 10000}}}}}}
receivers:
  otlp:
    protocols: {{http: {{endpoint: "{host}:{otlp}"}}}}
processors:
  batch: {{timeout: {batch}}}
exporters:
  jaeger_storage_exporter: {{trace_storage: mem}}
  otlphttp/logs:
    logs_endpoint: "http://{host}:{logs}/insert/opentelemetry/v1/logs"
"""


@dataclass
class Backends:
    """Jaeger (OTLP receiver + query API) and VictoriaLogs behind it."""

    root: Path
    otlp: int = 0
    query: int = 0
    logs: int = 0
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def otlp_url(self) -> str:
        return f"http://{HOST}:{self.otlp}"

    @property
    def query_url(self) -> str:
        return f"http://{HOST}:{self.query}"

    @property
    def logs_url(self) -> str:
        return f"http://{HOST}:{self.logs}"

    def _spawn(self, name: str, argv: list[str]) -> None:
        with (self.root / f"{name}.log").open("ab") as out:
            proc = subprocess.Popen(argv, stdout=out, stderr=out, start_new_session=True)
        self.procs.append(proc)

    def start(self) -> None:
        self.otlp, self.query, query_grpc, self.logs = free_ports(4)
        data = self.root / "vlogs"
        self._spawn(
            "victorialogs",
            [str(gobuild.victorialogs_binary()), f"-httpListenAddr={HOST}:{self.logs}",
             f"-storageDataPath={data}", "-loggerLevel=WARN"],
        )  # fmt: skip
        config = self.root / "jaeger.yaml"
        config.write_text(
            JAEGER_CONFIG.format(
                host=HOST, query=self.query, query_grpc=query_grpc, otlp=self.otlp,
                logs=self.logs, batch=BATCH_TIMEOUT,
            )
        )  # fmt: skip
        self._spawn("jaeger", [str(gobuild.jaeger_binary()), "--config", f"file:{config}"])
        for url in (f"{self.logs_url}/health", f"{self.query_url}/api/services"):
            wait_until(
                lambda url=url: httpx.get(url, timeout=1).status_code == 200,
                timeout_s=30, interval_s=0.1, what=url, retry_on=(httpx.HTTPError,),
            )  # fmt: skip

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)
        self.procs.clear()
        shutil.rmtree(self.root, ignore_errors=True)

    def trace(self, trace_id: str, want_spans: int, timeout_s: float = 15) -> dict[str, Any]:
        """Jaeger's /api/traces/{id} document once it holds at least `want_spans` spans."""

        def probe() -> dict[str, Any] | NotYet:
            response = httpx.get(f"{self.query_url}/api/traces/{trace_id}", timeout=2)
            if response.status_code != 200:
                return NotYet(f"HTTP {response.status_code}")
            data = response.json().get("data") or []
            spans = data[0]["spans"] if data else []
            if len(spans) < want_spans:
                return NotYet(f"{len(spans)} spans: {[s['operationName'] for s in spans]}")
            return dict(data[0])

        return wait_until(
            probe, timeout_s=timeout_s, interval_s=0.2, what=f"trace {trace_id} in Jaeger",
            retry_on=(httpx.HTTPError,),
        )  # fmt: skip

    def log_records(self, query: str, timeout_s: float = 15) -> list[dict[str, Any]]:
        """VictoriaLogs' records matching a LogsQL query, once there is at least one."""

        def probe() -> list[dict[str, Any]] | NotYet:
            response = httpx.get(
                f"{self.logs_url}/select/logsql/query", params={"query": query}, timeout=2
            )
            lines = [json.loads(line) for line in response.text.splitlines() if line.strip()]
            return lines or NotYet(f"HTTP {response.status_code}, no records")

        return wait_until(
            probe, timeout_s=timeout_s, interval_s=0.2, what=f"logs {query!r} in VictoriaLogs",
            retry_on=(httpx.HTTPError,),
        )  # fmt: skip


# -- reading Jaeger trace documents (/api/traces/{id}) -----------------------------------------


def tags(span: dict[str, Any]) -> dict[str, Any]:
    return {t["key"]: t["value"] for t in span.get("tags", [])}


def attribute_leaks(spans: Iterable[tuple[str, str, Any]], secrets: Mapping[str, str]) -> list[str]:
    """Each (span, key, value) that carries statement text or one of `secrets`, named."""
    found = []
    for span, key, value in spans:
        if key in STATEMENT_KEYS or key.startswith("db.query.parameter"):
            found.append(f"span {span!r}: attribute {key} = {str(value)[:60]!r}")
            continue
        for what, secret in secrets.items():
            if secret in str(value):
                found.append(f"span {span!r}: attribute {key} carries {what}")
    return found


def jaeger_attributes(trace: dict[str, Any]) -> Iterator[tuple[str, str, Any]]:
    """Every span tag and span-event field of a Jaeger trace document."""
    for span in trace["spans"]:
        for tag in span.get("tags", []):
            yield span["operationName"], tag["key"], tag["value"]
        for event in span.get("logs", []):
            for tag in event.get("fields", []):
                yield span["operationName"], tag["key"], tag["value"]


def by_kind(trace: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Spans grouped as server / postgresql / redis / http client."""
    groups: dict[str, list[dict[str, Any]]] = {"server": [], "postgresql": [], "redis": []}
    groups["client"] = []
    for span in trace["spans"]:
        t = tags(span)
        if t.get("db.system") in ("postgresql", "redis"):
            groups[t["db.system"]].append(span)
        elif t.get("span.kind") in ("server", "client"):
            groups[t["span.kind"]].append(span)
    return groups
