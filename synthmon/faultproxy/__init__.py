"""synthmon's own fault proxy, speaking Toxiproxy's HTTP API, and one client for both.

The proxy (``python -m synthmon.faultproxy``, or :func:`running` in a thread) sits on the TCP
path between a service and a dependency; :class:`ToxiproxyClient` adds latency, timeouts,
resets, bandwidth limits and downs to it, or to a real Toxiproxy through the same API.
The client is imported lazily: the proxy program must not need httpx's users (PyYAML & co).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from synthmon.faultproxy._server import running

if TYPE_CHECKING:
    from synthmon.faultproxy._client import ToxiproxyClient

__all__ = ["ToxiproxyClient", "running"]


def __getattr__(name: str) -> Any:
    if name == "ToxiproxyClient":
        from synthmon.faultproxy._client import ToxiproxyClient

        return ToxiproxyClient
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
