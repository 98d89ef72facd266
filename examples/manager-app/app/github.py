"""The GitHub API upstream: one shared keep-alive client, token in a header and never logged."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from app.metrics import Metrics

REQUEST_TIMEOUT = httpx.Timeout(2.0, connect=1.0)


class UpstreamError(Exception):
    """The upstream could not give a usable answer (network, 5xx, rate limit, bad JSON)."""


@dataclass(frozen=True, slots=True)
class RateLimit:
    """The core quota as GitHub reports it."""

    limit: int
    remaining: int
    reset: int


class GitHubClient:
    """Calls the upstream and keeps the rate-limit gauges current from every answer."""

    def __init__(self, base_url: str, token: str | None, metrics: Metrics) -> None:
        headers = {
            "Accept": "application/vnd.github+json",
            "User-Agent": "claude-manager",
            "X-GitHub-Api-Version": "2022-11-28",
        }
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._metrics = metrics
        self.client = httpx.AsyncClient(
            base_url=base_url,
            headers=headers,
            timeout=REQUEST_TIMEOUT,
            limits=httpx.Limits(max_connections=50, max_keepalive_connections=20),
            trust_env=False,
        )

    async def close(self) -> None:
        """Close keep-alive connections."""
        await self.client.aclose()

    async def rate_limit(self) -> RateLimit:
        """GET /rate_limit (free of quota on GitHub) and update the gauges."""
        response = await self.client.get("/rate_limit")
        if response.status_code != 200:
            raise UpstreamError(f"/rate_limit answered {response.status_code}")
        try:
            core = response.json()["resources"]["core"]
            rate = RateLimit(int(core["limit"]), int(core["remaining"]), int(core["reset"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise UpstreamError("/rate_limit answered malformed JSON") from exc
        self._metrics.rate_limit.set(rate.limit)
        self._metrics.rate_remaining.set(rate.remaining)
        return rate

    async def repo(self, owner: str, name: str) -> dict[str, Any] | None:
        """A repository, or None when GitHub says 404; UpstreamError for anything else."""
        try:
            response = await self.client.get(f"/repos/{owner}/{name}")
        except httpx.HTTPError as exc:
            raise UpstreamError(f"request failed: {type(exc).__name__}") from exc
        self._track_quota(response)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise UpstreamError(f"upstream answered {response.status_code}")
        try:
            body = response.json()
        except ValueError as exc:
            raise UpstreamError("upstream answered malformed JSON") from exc
        if not isinstance(body, dict):
            raise UpstreamError("upstream answered a non-object")
        return body

    def _track_quota(self, response: httpx.Response) -> None:
        """GitHub reports the quota on every response; keep the gauges fresh between probes."""
        remaining = response.headers.get("X-RateLimit-Remaining")
        limit = response.headers.get("X-RateLimit-Limit")
        if remaining is not None and remaining.isdigit():
            self._metrics.rate_remaining.set(int(remaining))
        if limit is not None and limit.isdigit():
            self._metrics.rate_limit.set(int(limit))
