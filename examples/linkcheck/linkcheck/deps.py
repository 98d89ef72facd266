"""The two dependencies (Redis, the upstream status API) and their probes."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from linkcheck.config import Settings
from linkcheck.metrics import record_probe


@dataclass(frozen=True)
class Probe:
    """One probe's outcome, as /healthz reports it."""

    ok: bool
    latency_ms: float
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ok": self.ok, "latency_ms": round(self.latency_ms, 1)}
        out.update(self.extra)
        if self.error is not None:
            out["error"] = self.error
        return out


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Dependencies:
    """Clients for Redis and the upstream; closed by ``aclose``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # No retries: a failing dependency must fail fast and visibly, not hide in backoff.
        self.redis: aioredis.Redis = aioredis.Redis.from_url(
            settings.redis_url,
            socket_timeout=settings.probe_timeout_s,
            socket_connect_timeout=settings.probe_timeout_s,
            retry=Retry(NoBackoff(), 0),
            decode_responses=True,
        )
        self.http = httpx.AsyncClient(
            base_url=settings.upstream_url,
            timeout=httpx.Timeout(settings.upstream_timeout_s),
            headers={"User-Agent": "linkcheck"},
        )

    async def aclose(self) -> None:
        await self.http.aclose()
        await self.redis.aclose()

    async def probe_redis(self) -> Probe:
        start = time.perf_counter()
        try:
            await asyncio.wait_for(self.redis.ping(), self.settings.probe_timeout_s)
        except Exception as exc:  # any failure is "not ok"; the reason is reported
            probe = Probe(False, (time.perf_counter() - start) * 1000, _describe(exc))
        else:
            probe = Probe(True, (time.perf_counter() - start) * 1000)
        record_probe("redis", probe.ok, probe.latency_ms / 1000)
        return probe

    async def probe_upstream(self) -> Probe:
        """GET the probe path: ok when it answers below 500 within the probe timeout."""
        start = time.perf_counter()
        path = self.settings.upstream_probe_path
        try:
            response = await self.http.get(path, timeout=self.settings.probe_timeout_s)
        except Exception as exc:
            probe = Probe(False, (time.perf_counter() - start) * 1000, _describe(exc))
        else:
            code = response.status_code
            extra = {"status_code": code}
            error = None if code < 500 else f"HTTP {code} from GET {path}"
            probe = Probe(code < 500, (time.perf_counter() - start) * 1000, error, extra)
        record_probe("upstream", probe.ok, probe.latency_ms / 1000)
        return probe

    async def probe_all(self) -> dict[str, Probe]:
        redis_probe, upstream_probe = await asyncio.gather(
            self.probe_redis(), self.probe_upstream()
        )
        return {"redis": redis_probe, "upstream": upstream_probe}
