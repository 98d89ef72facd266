"""Redis cache for the task list: an optimisation only, so every failure falls back to the DB."""

from __future__ import annotations

import logging

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from app.bounded import bounded

log = logging.getLogger("app.cache")

LIST_KEY = "claude_manager:tasks:list"
LIST_TTL_SECONDS = 10
SOCKET_TIMEOUT = 0.5


class TaskCache:
    """Cache-aside for GET /api/tasks; skipped entirely while Redis is known to be down."""

    def __init__(self, url: str) -> None:
        # No client-side retries: a down cache should cost one fast failure, not four slow ones.
        self.client: Redis = Redis.from_url(
            url,
            socket_timeout=SOCKET_TIMEOUT,
            socket_connect_timeout=SOCKET_TIMEOUT,
            retry=Retry(NoBackoff(), 0),
            max_connections=256,  # one event loop: bounded by concurrent requests anyway
            # no CLIENT SETINFO: a new connection costs no round trip before its command, so on
            # a slow link (+300 ms) a connection opened mid-burst still answers within the bound
            driver_info=None,
        )
        self.available = True
        # Bumped on every write; a list read that raced a write must not be cached (one worker).
        self.generation = 0

    async def close(self) -> None:
        """Drop pooled connections."""
        await self.client.aclose()

    async def ping(self, timeout: float) -> None:
        """PING within `timeout`; a success re-enables the cache, minus anything stale."""
        await bounded(self.client.ping(), timeout)
        if not self.available:
            # Writes made while Redis was unreachable did not invalidate: start clean.
            await bounded(self.client.delete(LIST_KEY), timeout)
            log.info("cache available again")
        self.available = True

    async def get_list(self) -> bytes | None:
        """The cached JSON body, or None on a miss or any Redis trouble."""
        if not self.available:
            return None
        try:
            value: bytes | str | None = await bounded(self.client.get(LIST_KEY), SOCKET_TIMEOUT)
        except (RedisError, OSError, TimeoutError) as exc:
            self._trouble("get", exc)
            return None
        return value if isinstance(value, bytes) else None

    async def set_list(self, body: bytes, generation: int) -> None:
        """Store the list read at `generation`, unless a write happened since (TTL as backstop)."""
        if not self.available or generation != self.generation:
            return
        try:
            await bounded(self.client.set(LIST_KEY, body, ex=LIST_TTL_SECONDS), SOCKET_TIMEOUT)
        except (RedisError, OSError, TimeoutError) as exc:
            self._trouble("set", exc)

    async def invalidate(self) -> None:
        """Forget the list after a write (skipped while down: recovery clears the key)."""
        self.generation += 1
        if not self.available:
            return
        try:
            await bounded(self.client.delete(LIST_KEY), SOCKET_TIMEOUT)
        except (RedisError, OSError, TimeoutError) as exc:
            self._trouble("delete", exc)

    def _trouble(self, op: str, exc: BaseException) -> None:
        """Stop using Redis until the health prober sees it answer again."""
        if self.available:
            log.warning(
                "cache unavailable, serving from database",
                extra={"fields": {"op": op, "error": type(exc).__name__}},
            )
        self.available = False
