"""Jaeger v2's config (an OpenTelemetry Collector config), rendered for one run's ports.

Why one renderer: the processes and containers backends (host network, 127.0.0.1) and the
example's compose file (all interfaces, service names) must run the same pipelines: OTLP gRPC
and HTTP in, a short batch, traces into Jaeger's memory store (queried on the query port), and,
when the project has a log store, logs forwarded to VictoriaLogs' OTLP endpoint. The health
endpoint is healthcheckv2 in its legacy mode (``use_v2: false``): only that mode answers the
runbook's ``curl http://localhost:13133/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

#: the collector's batch timeout: what a span waits in Jaeger before it is stored
BATCH_TIMEOUT_S = 0.2
#: VictoriaLogs' OTLP/HTTP logs endpoint, relative to its base URL
VICTORIALOGS_OTLP_PATH = "/insert/opentelemetry/v1/logs"
#: the ports of a jaeger service besides its own (OTLP/HTTP), by their project-file name
JAEGER_PORTS: dict[str, int] = {"otlp_grpc": 4317, "query": 16686, "query_grpc": 16685,
                                "health": 13133}  # fmt: skip
JAEGER_OTLP_HTTP_PORT = 4318
MEMORY_STORE = "memstore"


@dataclass(frozen=True)
class JaegerListen:
    """Where each of Jaeger's endpoints listens (``host:port``)."""

    otlp_http: str
    otlp_grpc: str
    query: str
    query_grpc: str
    health: str

    @classmethod
    def on(
        cls, host: str, ports: dict[str, int] | None = None, http: int | None = None
    ) -> JaegerListen:
        """Every endpoint on ``host``; ``ports``/``http`` default to Jaeger's own numbers."""
        p = {**JAEGER_PORTS, **(ports or {})}
        return cls(
            otlp_http=f"{host}:{http or JAEGER_OTLP_HTTP_PORT}",
            otlp_grpc=f"{host}:{p['otlp_grpc']}",
            query=f"{host}:{p['query']}",
            query_grpc=f"{host}:{p['query_grpc']}",
            health=f"{host}:{p['health']}",
        )


def jaeger_config(
    listen: JaegerListen, logs_url: str | None = None, batch_timeout_s: float = BATCH_TIMEOUT_S
) -> dict[str, Any]:
    """The config as data; ``logs_url``: VictoriaLogs' base URL (None: no logs pipeline)."""
    batch = {"timeout": f"{round(batch_timeout_s * 1000)}ms"}
    pipelines: dict[str, Any] = {
        "traces": {"receivers": ["otlp"], "processors": ["batch"],
                   "exporters": ["jaeger_storage_exporter"]},
    }  # fmt: skip
    exporters: dict[str, Any] = {"jaeger_storage_exporter": {"trace_storage": MEMORY_STORE}}
    if logs_url is not None:
        pipelines["logs"] = {"receivers": ["otlp"], "processors": ["batch"],
                             "exporters": ["otlphttp/logs"]}  # fmt: skip
        exporters["otlphttp/logs"] = {
            "logs_endpoint": logs_url.rstrip("/") + VICTORIALOGS_OTLP_PATH,
            "retry_on_failure": {"max_elapsed_time": "30s"},
        }
    return {
        "service": {
            "extensions": ["jaeger_storage", "jaeger_query", "healthcheckv2"],
            "pipelines": pipelines,
            # its own metrics would listen on :8888, one port for every run on the machine
            "telemetry": {"metrics": {"level": "none"}, "logs": {"level": "info"}},
        },
        "extensions": {
            "healthcheckv2": {"use_v2": False, "endpoint": listen.health, "path": "/"},
            "jaeger_query": {
                # else it traces itself to localhost:4317: another run's collector, or nobody
                # (then its shutdown waits ~10 s for the exporter)
                "enable_tracing": False,
                "storage": {"traces": MEMORY_STORE},
                "http": {"endpoint": listen.query},
                "grpc": {"endpoint": listen.query_grpc},
            },
            "jaeger_storage": {"backends": {MEMORY_STORE: {"memory": {"max_traces": 100000}}}},
        },
        "receivers": {
            "otlp": {
                "protocols": {
                    "grpc": {"endpoint": listen.otlp_grpc},
                    "http": {"endpoint": listen.otlp_http},
                }
            }
        },
        "processors": {"batch": batch},
        "exporters": exporters,
    }


def render_jaeger_config(
    listen: JaegerListen, logs_url: str | None = None, batch_timeout_s: float = BATCH_TIMEOUT_S
) -> str:
    """:func:`jaeger_config` as the YAML file ``jaeger --config file:PATH`` reads."""
    header = "# rendered by synthmon.stack.jaeger_config: OTLP in, memory store, query, health\n"
    body = yaml.safe_dump(jaeger_config(listen, logs_url, batch_timeout_s), sort_keys=False)
    return header + body


def main(argv: list[str] | None = None) -> int:
    """``python -m synthmon.stack.jaeger_config [--listen HOST] [--logs-url URL]``: the config
    on Jaeger's own ports (the image's default; the example's compose file mounts one)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m synthmon.stack.jaeger_config")
    parser.add_argument("--listen", default="0.0.0.0", help="the host every endpoint binds")
    parser.add_argument("--logs-url", default=None, help="VictoriaLogs' base URL (logs pipeline)")
    args = parser.parse_args(argv)
    print(render_jaeger_config(JaegerListen.on(args.listen), args.logs_url), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
