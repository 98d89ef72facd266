"""A generic fake HTTP upstream (a SaaS API a service calls), configured by a routes file.

Run ``python -m synthmon.upstream --host 127.0.0.1 --port P --routes FILE``: each route
answers its status, body, headers and delay, optionally counting against a shared quota
sent as rate-limit headers; tests change them while traffic flows through ``/_fake/``
(:class:`UpstreamClient`). Format and control API: docs/architecture.md, "The fake upstream".
"""

from synthmon.upstream._client import UpstreamClient
from synthmon.upstream._model import Quota, Reply, Route, RoutesFile, load_routes, parse_routes

__all__ = ["Quota", "Reply", "Route", "RoutesFile", "UpstreamClient", "load_routes", "parse_routes"]
