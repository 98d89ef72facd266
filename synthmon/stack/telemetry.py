"""The telemetry kinds of a project's stack: Jaeger v2 (traces) and VictoriaLogs (logs), as
Services (processes: the binaries synthmon.gobuild builds; containers: images made from them),
and the URLs of the running stack the trace and log checks read.

Why a table of kinds here and not in embedded.py: each kind is its argv, config, probe and
ports, nothing else; the embedded stack only asks for a kind's Service.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from synthmon.gobuild import jaeger_binary, victorialogs_binary
from synthmon.project import Project, ServiceSpec, named_port
from synthmon.stack.container_service import ContainerService
from synthmon.stack.jaeger_config import (
    BATCH_TIMEOUT_S,
    JAEGER_OTLP_HTTP_PORT,
    JAEGER_PORTS,
    JaegerListen,
    render_jaeger_config,
)
from synthmon.stack.service import HttpProbe, Service

#: the uid Jaeger's official image runs as (its config must be readable by it)
JAEGER_UID = 10001
#: the shortest retention VictoriaLogs takes: a test run's logs need no more
LOGS_RETENTION = "1d"
#: what lies between a span's or log line's receipt and its being queryable besides the batch:
#: the exporter's send, VictoriaLogs' in-memory parts flushed for search (about a second)
QUERYABLE_AFTER_S = 1.5
VICTORIALOGS_PORT = 9428  # its image's HTTP port
Ports = Mapping[str, int]


def jaeger_listen(name: str, ports: Ports, host: str) -> JaegerListen:
    """Where service ``name``'s endpoints listen in this run."""
    return JaegerListen(
        otlp_http=f"{host}:{ports[name]}",
        otlp_grpc=f"{host}:{ports[named_port(name, 'otlp_grpc')]}",
        query=f"{host}:{ports[named_port(name, 'query')]}",
        query_grpc=f"{host}:{ports[named_port(name, 'query_grpc')]}",
        health=f"{host}:{ports[named_port(name, 'health')]}",
    )


def _jaeger_probe(name: str, ports: Ports, host: str) -> HttpProbe:
    return HttpProbe(f"http://{host}:{ports[named_port(name, 'health')]}/")


def jaeger(spec: ServiceSpec, ports: Ports, host: str, logs_url: str | None) -> Service:
    """Jaeger v2 as a process: ``logs_url`` is the log store it forwards OTLP logs to."""
    config = render_jaeger_config(jaeger_listen(spec.name, ports, host), logs_url)
    return Service(
        name=spec.name,
        argv=(str(jaeger_binary()), "--config", "file:{conf}/jaeger.yaml"),
        configs={"jaeger.yaml": config},
        probe=_jaeger_probe(spec.name, ports, host),
    )


def jaeger_container(
    spec: ServiceSpec, ports: Ports, host: str, logs_url: str | None, image: str
) -> ContainerService:
    """Jaeger's image (entrypoint: the jaeger binary) with the same config, mounted."""
    config = render_jaeger_config(jaeger_listen(spec.name, ports, host), logs_url)
    return ContainerService(
        name=spec.name, image=image, readable_by=JAEGER_UID,
        argv=("--config", "file:{conf}/jaeger.yaml"),
        configs={"jaeger.yaml": config},
        probe=_jaeger_probe(spec.name, ports, host),
    )  # fmt: skip


def _logs_args(port: int, host: str) -> tuple[str, ...]:
    return (f"-httpListenAddr={host}:{port}", f"-retentionPeriod={LOGS_RETENTION}",
            "-loggerLevel=WARN")  # fmt: skip


def victorialogs(spec: ServiceSpec, ports: Ports, host: str) -> Service:
    """VictoriaLogs as a process, its data in the run directory."""
    port = ports[spec.name]
    return Service(
        name=spec.name,
        argv=(str(victorialogs_binary()), *_logs_args(port, host), "-storageDataPath={data}"),
        probe=HttpProbe(f"http://{host}:{port}/health"),
    )


def victorialogs_container(
    spec: ServiceSpec, ports: Ports, host: str, image: str
) -> ContainerService:
    """VictoriaLogs' image (entrypoint: victoria-logs-prod; data in its /victoria-logs-data)."""
    port = ports[spec.name]
    return ContainerService(
        name=spec.name, image=image,
        argv=(*_logs_args(port, host), "-storageDataPath=/victoria-logs-data"),
        probe=HttpProbe(f"http://{host}:{port}/health"),
    )  # fmt: skip


@dataclass(frozen=True)
class TelemetryUrls:
    """The Stack's telemetry fields of one run (see :class:`synthmon.stack.running.Stack`)."""

    jaeger_url: str | None = None
    otlp_url: str | None = None
    otel_health_url: str | None = None
    logs_url: str | None = None
    logs_api: str = "victorialogs"
    telemetry_delay_s: float = BATCH_TIMEOUT_S + QUERYABLE_AFTER_S


def telemetry_urls(project: Project, ports: Ports, host: str) -> TelemetryUrls:
    """Where this run's trace store (query, OTLP/HTTP, health) and log store are."""
    traces, logs = project.telemetry_service("traces"), project.telemetry_service("logs")
    t = project.telemetry

    def at(port: str) -> str:
        return f"http://{host}:{ports[port]}"

    return TelemetryUrls(
        jaeger_url=at(named_port(traces.name, "query")) if traces else None,
        otlp_url=at(traces.name) if traces else None,
        otel_health_url=at(named_port(traces.name, "health")) + "/" if traces else None,
        logs_url=at(logs.name) if logs else None,
        logs_api=t.logs_api if t is not None else "victorialogs",
    )


# -- the compose backend: the user's own Jaeger and log store, on their images' own ports -------
#: a compose service's container ports by kind the checks use (Jaeger's image: OTLP/HTTP,
#: query, health); its compose service must publish or expose them
COMPOSE_PORTS: Mapping[str, Mapping[str, int]] = {
    "jaeger": {
        "otlp_http": JAEGER_OTLP_HTTP_PORT,
        "query": JAEGER_PORTS["query"],
        "health": JAEGER_PORTS["health"],
    },
    "victorialogs": {"http": VICTORIALOGS_PORT},
}


def compose_telemetry(
    project: Project, published: Callable[[str, int], int], host: str
) -> tuple[TelemetryUrls, dict[str, HttpProbe]]:
    """The Stack's telemetry fields on compose, and the readiness probes of the services they
    name: ``telemetry.traces``/``logs`` are compose services on their images' ports
    (``published(service, container_port)``: the host port the engine gave it)."""
    t = project.telemetry
    if t is None:
        return TelemetryUrls(), {}
    probes: dict[str, HttpProbe] = {}
    found = TelemetryUrls(logs_api=t.logs_api)
    if t.traces is not None:
        ports = {k: published(t.traces, p) for k, p in COMPOSE_PORTS["jaeger"].items()}
        health = f"http://{host}:{ports['health']}/"
        found = dataclasses.replace(
            found,
            jaeger_url=f"http://{host}:{ports['query']}",
            otlp_url=f"http://{host}:{ports['otlp_http']}",
            otel_health_url=health,
        )
        probes[t.traces] = HttpProbe(health)
    if t.logs is not None:
        logs = f"http://{host}:{published(t.logs, VICTORIALOGS_PORT)}"
        found = dataclasses.replace(found, logs_url=logs)
        probes[t.logs] = HttpProbe(f"{logs}/health")
    return found, probes
