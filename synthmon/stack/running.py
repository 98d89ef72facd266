"""A running stack as data: every URL a check needs, plus the runner that controls it (if any)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from synthmon.project import Project
from synthmon.stack import embedded, telemetry
from synthmon.stack.jaeger_config import BATCH_TIMEOUT_S
from synthmon.stack.processes import ProcessRunner


@dataclass(frozen=True)
class Stack:
    """Where everything is; ``runner`` is None for an external stack (no faults possible).
    ``reason`` says why this backend was used (what ``--stack auto`` saw). ``urls`` and
    ``secrets``: the project's services by name, and this run's values of its secrets."""

    kind: str
    run_dir: Path
    app_url: str
    prometheus_url: str
    alertmanager_url: str | None = None
    sinks_url: str | None = None
    pushgateway_url: str | None = None
    urls: Mapping[str, str] = field(default_factory=dict)
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)
    project: Project | None = None
    runner: ProcessRunner | None = None
    time_scale: float = 1.0
    scrape_interval_s: float = embedded.SCRAPE_INTERVAL_S
    evaluation_interval_s: float = embedded.EVALUATION_INTERVAL_S
    reason: str = ""
    notes: tuple[str, ...] = ()  # what the test copies of the configs leave out, and why
    fault_proxy_url: str | None = None  # Toxiproxy's API on the links (None: none proxied)
    # telemetry (None: not in this stack): Jaeger's query API and UI base (the runbook's
    # 16686), the OTLP/HTTP base the app exports to (4318), the collector's health endpoint
    # the runbook curls (13133, ending in /), the log store's base and its query API
    jaeger_url: str | None = None
    otlp_url: str | None = None
    otel_health_url: str | None = None
    logs_url: str | None = None
    logs_api: str = "victorialogs"  # "victorialogs" | "loki"
    # the collector's batch timeout plus what else lies between receipt and queryability: a
    # check waiting for a span or a log line adds it to its deadline
    telemetry_delay_s: float = BATCH_TIMEOUT_S + telemetry.QUERYABLE_AFTER_S
