"""The ``telemetry:`` block of ``synthmon init --from``: which compose services hold the target's
traces and logs, and the target's OpenTelemetry ``service.name``.

Jaeger v2 and VictoriaLogs are known by their images (their kinds, in ``init_from.KINDS``). A
plain OpenTelemetry Collector is recognised too but holds nothing synthmon can read: the trace
checks query Jaeger's API, so without a Jaeger service ``traces`` is a ``# TODO``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from synthmon.init_text import Block, Node, Note, Todo, Value

# image repositories (registry and tag stripped) of the OpenTelemetry Collector distributions
COLLECTOR = re.compile(r"otel/opentelemetry-collector(-[a-z0-9]+)*")
# the service kind that holds each of them → the telemetry key naming it
HOLDERS = {"jaeger": "traces", "victorialogs": "logs"}
NO_QUERY_API = (
    "{names} ({images}) is an OpenTelemetry Collector, which keeps no traces: synthmon's trace "
    "checks need a Jaeger query API. Add a Jaeger v2 service (jaegertracing/jaeger, kind "
    "jaeger; a collector itself) the traces reach, and name it here"
)
TRACE_CHECKS = Note(
    "trace_checks: a request to the target and the spans its trace must show, e.g.\n"
    "trace_checks:\n  - request: GET /\n    spans: [{kind: server}]",
    wrap=False,
)
RESOURCE_NAME = re.compile(r"(?:^|,)\s*service\.name=([^,]+)")


def _env(spec: Mapping[str, Any]) -> dict[str, str]:
    env = spec.get("environment") or {}
    if isinstance(env, list):  # ["KEY=VALUE"]
        env = dict(str(e).partition("=")[::2] for e in env)
    return {str(k): str(v) for k, v in env.items() if v is not None}


def service_name(target: str, spec: Mapping[str, Any]) -> Value:
    """The target's OTEL_SERVICE_NAME, else the service.name of its OTEL_RESOURCE_ATTRIBUTES,
    else its compose name (what the SDK reports is unknown_service: a guess)."""
    env = _env(spec)
    if env.get("OTEL_SERVICE_NAME"):
        return Value(env["OTEL_SERVICE_NAME"], f"{target}'s OTEL_SERVICE_NAME")
    found = RESOURCE_NAME.search(env.get("OTEL_RESOURCE_ATTRIBUTES", ""))
    if found:
        return Value(found.group(1).strip(), f"{target}'s OTEL_RESOURCE_ATTRIBUTES service.name")
    why = f"{target} sets no OTEL_SERVICE_NAME: its compose name (set the variable to match)"
    return Value(target, why, guessed=True)


def _holder(kind: str, kinds: Mapping[str, str], services: Mapping[str, Any]) -> Value | None:
    names = sorted(n for n, k in kinds.items() if k == kind)
    if not names:
        return None
    others = f"; also {', '.join(names[1:])}" if len(names) > 1 else ""
    return Value(names[0], f"image {services[names[0]].get('image')}{others}", guessed=True)


def telemetry(
    services: Mapping[str, Any],
    kinds: Mapping[str, str],
    repositories: Mapping[str, str],
    target: Value | Todo,
) -> Node | None:
    """The block (None: the stack has no trace or log service and the target exports none);
    ``kinds``: each kept service's guessed kind, ``repositories``: each service's image
    repository."""
    found = {key: _holder(kind, kinds, services) for kind, key in HOLDERS.items()}
    collectors: Sequence[str] = sorted(
        n for n in kinds if COLLECTOR.fullmatch(repositories.get(n, ""))
    )
    exports = isinstance(target, Value) and bool(
        _env(services[target.value]).get("OTEL_EXPORTER_OTLP_ENDPOINT")
    )
    if not (any(found.values()) or collectors or exports):
        return None
    if not isinstance(target, Value):
        return Todo("no target, so no service.name (see target)")
    block = Block().add("service_name", service_name(target.value, services[target.value]))
    traces = found["traces"]
    if traces is not None:
        block.add("traces", traces)
        block.add("", TRACE_CHECKS)
    elif collectors:
        images = ", ".join(str(services[n].get("image")) for n in collectors)
        block.add("traces", Todo(NO_QUERY_API.format(names=", ".join(collectors), images=images)))
    elif exports:
        why = f"{target.value} exports OTLP (OTEL_EXPORTER_OTLP_ENDPOINT) but no service runs "
        block.add("traces", Todo(why + "jaegertracing/jaeger"))
    logs = found["logs"]
    if logs is not None:
        block.add("logs", logs)
        block.add("logs_api", Value("victorialogs", f"{logs.value} runs VictoriaLogs"))
    return block
