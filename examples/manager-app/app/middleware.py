"""One pure-ASGI layer for what every request shares: route label, chaos, metrics, access log.

Pure ASGI (not BaseHTTPMiddleware) keeps the per-request overhead to a few microseconds. When
traced it runs inside the server span: the access line and the duration exemplar carry its ID.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Sequence

from starlette.requests import ClientDisconnect
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.chaos import Chaos
from app.logs import kv
from app.metrics import Metrics
from app.telemetry import current_ids

access = logging.getLogger("app.access")
CLIENT_CLOSED = 499  # nginx's "client closed request"
log = logging.getLogger("app.http")

UNMATCHED = "unmatched"
NOT_COUNTED = frozenset({"/api/metrics"})
_CHAOS_BODY = json.dumps({"error": "injected failure (chaos)"}).encode()
_CRASH_BODY = json.dumps({"error": "internal server error"}).encode()


def route_template(routes: Sequence[BaseRoute], scope: Scope) -> str:
    """The matched route's template (`/api/tasks/{task_id}`), never the raw path."""
    for route in routes:
        match, _ = route.matches(scope)
        if match is not Match.NONE:
            return str(getattr(route, "path", UNMATCHED))
    return UNMATCHED


class Observability:
    """Wraps the router: labels by template, injects chaos, records metrics and access logs."""

    def __init__(
        self, app: ASGIApp, routes: Sequence[BaseRoute], metrics: Metrics, chaos: Chaos
    ) -> None:
        self.app = app
        self.routes = routes
        self.metrics = metrics
        self.chaos = chaos

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        endpoint = route_template(self.routes, scope)
        method: str = scope["method"]
        status = 500
        response_started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
            await send(message)

        try:
            if self.chaos.active and await self._inject(endpoint, method, send_wrapper):
                return
            await self.app(scope, receive, send_wrapper)
        except ClientDisconnect:
            # the client went away before its body arrived (a load generator stopping, a timeout):
            # nobody to answer and nothing broken here; nginx's 499 in the access line and metrics
            status = CLIENT_CLOSED
            log.info("client disconnected", extra=kv(method=method, path=endpoint))
        except Exception:
            log.exception("unhandled error", extra=kv(method=method, path=endpoint))
            if not response_started:
                await _send_json(send_wrapper, 500, _CRASH_BODY)
        finally:
            self._record(method, endpoint, status, time.perf_counter() - started)

    async def _inject(self, endpoint: str, method: str, send: Send) -> bool:
        """Apply chaos latency, then maybe answer 500 ourselves; True when we answered."""
        delay = self.chaos.latency_for(endpoint)
        if delay:
            await asyncio.sleep(delay)
        if not self.chaos.should_fail(endpoint):
            return False
        log.warning(
            "injected error", extra=kv(chaos=True, method=method, path=endpoint, status=500)
        )
        await _send_json(send, 500, _CHAOS_BODY)
        return True

    def _record(self, method: str, endpoint: str, status: int, seconds: float) -> None:
        if endpoint not in NOT_COUNTED:
            ids = current_ids()
            self.metrics.observe(method, endpoint, status, seconds, ids[0] if ids else None)
        access.info(
            "request",
            extra=kv(
                method=method, path=endpoint, status=status, duration_ms=round(seconds * 1000, 2)
            ),
        )


async def _send_json(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
