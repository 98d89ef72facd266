"""The httpx client of one HTTP service synthmon talks to (Alertmanager, the sinks, the fake
upstream): a base URL, a context manager that closes it, and a readiness probe, written once."""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Self

import httpx


class ServiceClient:
    """``base_url`` (trailing ``/`` dropped) and an httpx client on ``base_url + api``."""

    ready_path = "/-/ready"

    def __init__(
        self,
        base_url: str,
        timeout: float = 5.0,
        *,
        api: str = "",
        headers: Mapping[str, str] | None = None,
        trust_env: bool = True,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=f"{self.base_url}{api}",
            timeout=timeout,
            headers=dict(headers or {}),
            trust_env=trust_env,
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def ready(self) -> bool:
        """Whether the service answers 200 on its readiness path (from base_url, not the API)."""
        try:
            return self._http.get(f"{self.base_url}{self.ready_path}").status_code == 200
        except httpx.HTTPError:
            return False
