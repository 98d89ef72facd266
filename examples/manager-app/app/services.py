"""The long-lived objects a running app holds, opened and closed by the lifespan."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from app.cache import TaskCache
from app.chaos import Chaos
from app.config import Settings
from app.db import Database
from app.github import GitHubClient
from app.health import DependencyMonitor
from app.metrics import Metrics

log = logging.getLogger("app")


@dataclass
class Services:
    """Everything handlers need; built unopened so routes can be wired before startup."""

    settings: Settings
    metrics: Metrics
    db: Database
    cache: TaskCache
    github: GitHubClient
    monitor: DependencyMonitor
    chaos: Chaos = field(default_factory=Chaos)
    chaos_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @classmethod
    def build(cls, settings: Settings) -> Services:
        """Create (not yet connect) all clients from settings."""
        metrics = Metrics(settings.memory_limit_bytes)
        db = Database(settings.database_url)
        cache = TaskCache(settings.redis_url)
        github = GitHubClient(settings.github_api_url, settings.github_token, metrics)
        monitor = DependencyMonitor(
            db, cache, github, metrics, settings.probe_timeout, settings.probe_interval
        )
        return cls(settings, metrics, db, cache, github, monitor)

    async def start(self) -> None:
        """Open without waiting for any dependency: the app must boot while they are down."""
        await self.db.open()
        self.monitor.start()
        log.info(
            "started",
            extra={
                "fields": {
                    "version": self.settings.version,
                    "chaos": bool(self.settings.chaos_token),
                }
            },
        )

    async def stop(self) -> None:
        """Stop background work and close every client; each step is independent."""
        await self.monitor.stop()
        self.chaos.clear()
        for close in (self.github.close, self.cache.close, self.db.close):
            try:
                await asyncio.wait_for(close(), timeout=3.0)
            except Exception as exc:  # shutting down: report and carry on closing the rest
                log.warning("close failed", extra={"fields": {"error": type(exc).__name__}})
        log.info("stopped")
