"""The app's Prometheus metrics, on a private registry so names stay exactly as contracted."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.openmetrics.exposition import CONTENT_TYPE_LATEST as OPENMETRICS
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

# `*_created` series only add noise to PromQL autocompletion and cardinality.
disable_created_metrics()  # type: ignore[no-untyped-call]

LATENCY_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
DEPENDENCIES = ("database", "redis", "github_api")
_CGROUP_FILES = (
    Path("/sys/fs/cgroup/memory.max"),  # cgroup v2
    Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"),  # cgroup v1
)


def mem_total_bytes() -> int | None:
    """MemTotal from /proc/meminfo, the fallback when no cgroup limit applies."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def memory_limit_bytes(override: int | None = None) -> int:
    """The memory this process may use: override, else the cgroup limit capped by MemTotal."""
    if override:
        return override
    total = mem_total_bytes()
    for path in _CGROUP_FILES:
        try:
            raw = path.read_text().strip()
        except OSError:
            continue
        if raw.isdigit():
            limit = int(raw)
            return min(limit, total) if total else limit
    return total or 0


class Metrics:
    """All instruments; one instance per app so tests can build several apps in one process."""

    def __init__(self, memory_limit_override: int | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)
        reg = self.registry
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests by method, route template and status code.",
            ("method", "endpoint", "status"),
            registry=reg,
        )
        self.duration = Histogram(
            "http_request_duration_seconds",
            "HTTP request duration by method and route template.",
            ("method", "endpoint"),
            buckets=LATENCY_BUCKETS,
            registry=reg,
        )
        self.dependency_up = Gauge(
            "dependency_up", "1 when the last probe of a dependency succeeded.", ("dependency",),
            registry=reg,
        )  # fmt: skip
        self.rate_remaining = Gauge(
            "github_api_rate_limit_remaining", "GitHub API requests left in the window.",
            registry=reg,
        )  # fmt: skip
        self.rate_limit = Gauge(
            "github_api_rate_limit_limit", "GitHub API requests allowed per window.", registry=reg
        )
        self.tasks_completed = Counter(
            "tasks_completed_total", "Tasks moved to completed.", registry=reg
        )
        self.login_failures = Counter(
            "login_failures_total", "Rejected login attempts.", registry=reg
        )
        self.memory_limit = Gauge(
            "app_memory_limit_bytes", "Memory available to the app (cgroup limit or MemTotal).",
            registry=reg,
        )  # fmt: skip
        self.memory_limit.set(memory_limit_bytes(memory_limit_override))
        for dep in DEPENDENCIES:
            self.dependency_up.labels(dep).set(0)

    def observe(
        self, method: str, endpoint: str, status: int, seconds: float, trace_id: str | None = None
    ) -> None:
        """Record one finished request; its trace ID (if traced) becomes the bucket's exemplar."""
        self.requests.labels(method, endpoint, str(status)).inc()
        exemplar = {"trace_id": trace_id} if trace_id else None
        self.duration.labels(method, endpoint).observe(seconds, exemplar=exemplar)

    def render(self, accept: str = "") -> tuple[bytes, str]:
        """(body, content type): OpenMetrics (with exemplars) when the scraper asks for it, as
        Prometheus does, else the text format (which cannot carry exemplars)."""
        if wants_openmetrics(accept):
            return generate_openmetrics(self.registry), OPENMETRICS  # type: ignore[no-untyped-call]
        return generate_latest(self.registry), CONTENT_TYPE


def wants_openmetrics(accept: str) -> bool:
    """Whether an Accept header lists application/openmetrics-text (any version, any q > 0)."""
    for item in accept.split(","):
        media, *params = (part.strip() for part in item.split(";"))
        if media.lower() == "application/openmetrics-text" and "q=0" not in params:
            return True
    return False


CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
__all__ = [
    "CONTENT_TYPE",
    "DEPENDENCIES",
    "LATENCY_BUCKETS",
    "OPENMETRICS",
    "Metrics",
    "memory_limit_bytes",
    "wants_openmetrics",
]
