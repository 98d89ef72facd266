"""Drive a running fake upstream from a test or a fault: set routes and quota, read state."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import httpx

from synthmon.errors import HttpError
from synthmon.http_errors import http_error, json_of, send
from synthmon.service_client import ServiceClient

SERVICE = "fake upstream"


class UpstreamClient(ServiceClient):
    """HTTP client of ``python -m synthmon.upstream``'s control API (``/_fake/``); a failed
    call raises :class:`~synthmon.errors.HttpError` in synthmon's one format."""

    ready_path = "/_fake/state"

    def __init__(self, base_url: str, timeout: float = 5.0) -> None:
        super().__init__(base_url, timeout, trust_env=False)

    def state(self) -> dict[str, Any]:
        """``{"routes": {name: {method, path, status, delay_ms, quota}}, "quota": {limit,
        remaining, reset, used, reset_s} | None, "default": {status}}``."""
        return self._json("GET", "/_fake/state")

    def requests(self) -> dict[str, Any]:
        """``{"total", "unmatched", "routes": {name: {count, authenticated,
        last_auth_scheme}}}``: what each route was asked, and how it authenticated."""
        return self._json("GET", "/_fake/requests")

    def set_route(
        self, name: str, *, status: int | None = None, delay_ms: float | None = None
    ) -> dict[str, Any]:
        """Change route ``name`` (``"*"``: every route); the changed routes' state."""
        changes = _given(status=status, delay_ms=delay_ms)
        return self._json("PUT", f"/_fake/routes/{name}", json=changes)

    def set_quota(
        self, *, remaining: int | None = None, limit: int | None = None
    ) -> dict[str, Any]:
        """Set the shared quota (a new window starts); its state after."""
        return self._json("PUT", "/_fake/quota", json=_given(remaining=remaining, limit=limit))

    def reset(self) -> dict[str, Any]:
        """Every route, the quota and the counts back to the routes file's values."""
        return self._json("POST", "/_fake/reset")

    @contextlib.contextmanager
    def route_set(
        self, name: str, *, status: int | None = None, delay_ms: float | None = None
    ) -> Iterator[None]:
        """:meth:`set_route` for the block, then the route's values from before it."""
        routes = self.state()["routes"]
        before = routes if name == "*" else {name: routes.get(name, {})}
        self.set_route(name, status=status, delay_ms=delay_ms)
        try:
            yield
        finally:
            for each, values in before.items():
                self.set_route(each, status=values.get("status"), delay_ms=values.get("delay_ms"))

    def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = send(self._http, SERVICE, method, path, base_url=self.base_url, **kwargs)
        data = json_of(SERVICE, self.base_url, response)
        if not isinstance(data, dict):
            raise _not_an_object(self.base_url, response)
        return data


def _given(**values: Any) -> dict[str, Any]:
    given = {k: v for k, v in values.items() if v is not None}
    if not given:
        raise ValueError(f"give at least one of {', '.join(values)}")
    return given


def _not_an_object(base_url: str, response: httpx.Response) -> HttpError:
    request = response.request
    return http_error(
        SERVICE, base_url, f"{request.method} {request.url.path}", method=request.method,
        url=str(request.url), status=response.status_code, seen="the answer is not a JSON object",
    )  # fmt: skip
