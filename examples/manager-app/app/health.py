"""Dependency probes: shared by GET /health (live) and the background prober (gauges)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from app.bounded import bounded
from app.cache import TaskCache
from app.db import Database
from app.github import GitHubClient
from app.logs import kv
from app.metrics import Metrics
from app.telemetry import untraced

log = logging.getLogger("app.health")

HEALTHY, UNHEALTHY = "healthy", "unhealthy"


class DependencyMonitor:
    """Runs the three probes concurrently, publishes dependency_up, logs transitions once."""

    def __init__(
        self,
        db: Database,
        cache: TaskCache,
        github: GitHubClient,
        metrics: Metrics,
        timeout: float,
        interval: float,
    ) -> None:
        self._probes: dict[str, Callable[[], Awaitable[Any]]] = {
            "database": lambda: db.ping(timeout),
            "redis": lambda: cache.ping(timeout),
            "github_api": lambda: bounded(github.rate_limit(), timeout),
        }
        self._metrics = metrics
        self._interval = interval
        self._last: dict[str, bool | None] = dict.fromkeys(self._probes)
        self._task: asyncio.Task[None] | None = None

    async def check(self) -> dict[str, str]:
        """Probe everything now; returns {dependency: "healthy" | "unhealthy"}."""
        names = list(self._probes)
        results = await asyncio.gather(*(self._probes[n]() for n in names), return_exceptions=True)
        checks: dict[str, str] = {}
        for name, result in zip(names, results, strict=True):
            error = result if isinstance(result, BaseException) else None
            self._record(name, error)
            checks[name] = UNHEALTHY if error else HEALTHY
        return checks

    def _record(self, name: str, error: BaseException | None) -> None:
        up = error is None
        self._metrics.dependency_up.labels(name).set(1 if up else 0)
        previous, self._last[name] = self._last[name], up
        if up and previous is False:
            log.info("dependency recovered", extra=kv(dependency=name))
        elif not up and previous is not False:
            detail = str(error)[:200] or type(error).__name__
            log.warning(
                "dependency down",
                extra=kv(dependency=name, error=type(error).__name__, detail=detail),
            )

    def start(self) -> None:
        """Begin probing every interval in the background."""
        self._task = asyncio.create_task(self._loop(), name="dependency-prober")

    async def stop(self) -> None:
        """Stop the background prober."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            try:
                with untraced():
                    await self.check()
            except Exception:  # a bug here must not silently end all probing
                log.exception("dependency probe crashed")
            await asyncio.sleep(max(0.0, self._interval - (loop.time() - started)))


def overall(checks: dict[str, str]) -> tuple[str, int]:
    """Contract: database down -> unhealthy; anything else down -> degraded; both 503."""
    if checks.get("database") != HEALTHY:
        return "unhealthy", 503
    if any(state != HEALTHY for state in checks.values()):
        return "degraded", 503
    return "healthy", 200


def utc_timestamp() -> str:
    """Current time as ISO 8601 UTC with a Z suffix, like the runbook's example."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
