"""One client for synthmon's fault proxy and a real Toxiproxy: the same HTTP API.

Endpoints used (Toxiproxy 2.x, README "HTTP API"): ``GET /proxies``, ``POST /proxies``,
``POST /populate``, ``POST /proxies/{proxy}`` (``{"enabled": ...}``),
``POST /proxies/{proxy}/toxics``, ``DELETE /proxies/{proxy}/toxics/{toxic}``, ``POST /reset``
and ``GET /version`` (readiness). Nothing synthmon-only, so a user's Toxiproxy works unchanged:
tests/test_toxiproxy_compat.py runs the same checks on the real server (built from its Go module).
Where the servers differ the client takes both: ``/version`` is plain text up to Toxiproxy 2.5
and JSON after; a toxicity outside 0..1 is refused here, as the real one takes it unchecked.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

import httpx

from synthmon.errors import ConfigError, HttpError, StackError
from synthmon.http_errors import json_of, send
from synthmon.service_client import ServiceClient

SERVICE = "fault proxy"


class ToxiproxyClient(ServiceClient):
    """Toxiproxy's API at ``url``; every failure is a one-line StackError naming the proxy or
    toxic and the HTTP answer."""

    ready_path = "/version"

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        super().__init__(url, timeout, trust_env=False)

    def _call(self, what: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return send(self._http, SERVICE, method, path, base_url=self.base_url, **kwargs)
        except HttpError as exc:
            raise StackError(f"{what}: {exc}") from None

    def version(self) -> str:
        """The server's version: ``2.5.0`` (Toxiproxy <= 2.5 answers plain text), or the
        ``version`` of a JSON answer (later ones, and synthmon's ``2.9.0-synthmon``)."""
        answer = self._call("reading the version", "GET", "/version")
        if not answer.text.lstrip().startswith("{"):
            found = answer.text.strip()
            if found and "\n" not in found:
                return found
        try:
            return str(json_of(SERVICE, self.base_url, answer)["version"])
        except (HttpError, KeyError, TypeError) as exc:
            raise StackError(f"reading the version: {exc}") from None

    def proxies(self) -> dict[str, Any]:
        """Every proxy by name, with its listen, upstream, enabled and toxics."""
        answer = self._call("listing proxies", "GET", "/proxies")
        try:
            found = json_of(SERVICE, self.base_url, answer)
        except HttpError as exc:
            raise StackError(f"listing proxies: {exc}") from None
        if not isinstance(found, dict):
            raise StackError(f"listing proxies: {SERVICE} {self.base_url}: not an object")
        return found

    def create(self, name: str, listen: str, upstream: str) -> None:
        """A new proxy ``name`` on ``listen`` (``host:port``) to ``upstream``, enabled."""
        body = {"name": name, "listen": listen, "upstream": upstream, "enabled": True}
        self._call(f"creating proxy {name!r}", "POST", "/proxies", json=body)

    def populate(self, proxies: list[Mapping[str, Any]]) -> None:
        """Create or replace these proxies (``name``, ``listen``, ``upstream``[, ``enabled``]);
        one that exists with the same addresses is left as it is."""
        names = ", ".join(repr(p.get("name")) for p in proxies)
        self._call(f"populating proxies {names}", "POST", "/populate", json=list(proxies))

    def add_toxic(
        self,
        proxy: str,
        type: str,
        stream: str = "downstream",
        toxicity: float = 1.0,
        name: str | None = None,
        **attributes: int,
    ) -> str:
        """Add a toxic (``latency``, ``timeout``, ``reset_peer``, ``bandwidth``...); its name."""
        toxic = name or f"{type}_{stream}"
        if isinstance(toxicity, bool) or not 0 <= toxicity <= 1:
            raise ConfigError(
                f"toxic {toxic!r} of proxy {proxy!r}: toxicity: expected a number from 0 to 1, "
                f"got {toxicity!r}"
            )
        body = {
            "name": toxic,
            "type": type,
            "stream": stream,
            "toxicity": toxicity,
            "attributes": attributes,
        }
        what = f"adding toxic {toxic!r} to proxy {proxy!r}"
        self._call(what, "POST", f"/proxies/{proxy}/toxics", json=body)
        return toxic

    def remove_toxic(self, proxy: str, name: str) -> None:
        what = f"removing toxic {name!r} from proxy {proxy!r}"
        self._call(what, "DELETE", f"/proxies/{proxy}/toxics/{name}")

    @contextlib.contextmanager
    def toxic(
        self,
        proxy: str,
        type: str,
        stream: str = "downstream",
        toxicity: float = 1.0,
        **attributes: int,
    ) -> Iterator[None]:
        """The toxic for the block: added on entry, removed on exit, even after an exception."""
        name = self.add_toxic(proxy, type, stream, toxicity, None, **attributes)
        try:
            yield
        finally:
            self.remove_toxic(proxy, name)

    def set_enabled(self, proxy: str, enabled: bool) -> None:
        what = f"{'enabling' if enabled else 'disabling'} proxy {proxy!r}"
        self._call(what, "POST", f"/proxies/{proxy}", json={"enabled": enabled})

    @contextlib.contextmanager
    def disabled(self, proxy: str) -> Iterator[None]:
        """The proxy down for the block (connections refused), up again after, even on error."""
        self.set_enabled(proxy, False)
        try:
            yield
        finally:
            self.set_enabled(proxy, True)

    def reset(self) -> None:
        """Every proxy enabled, every toxic removed."""
        self._call("resetting", "POST", "/reset")
