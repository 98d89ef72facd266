"""Operational endpoints: /health, /api/metrics and the token-guarded chaos controls."""

from __future__ import annotations

import asyncio
import hmac
import logging
from dataclasses import asdict

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.api import error, json_object
from app.chaos import ChaosError
from app.health import overall, utc_timestamp
from app.logs import kv
from app.services import Services

log = logging.getLogger("app.chaos")


class Ops:
    """Handlers bound to the running services."""

    def __init__(self, svc: Services) -> None:
        self.svc = svc

    def routes(self) -> list[Route]:
        """Chaos routes exist only when APP_CHAOS_TOKEN is set (otherwise plain 404)."""
        routes = [
            Route("/health", self.health, methods=["GET"]),
            Route("/api/metrics", self.metrics, methods=["GET"]),
        ]
        if self.svc.settings.chaos_token:
            routes.append(Route("/api/chaos", self.chaos, methods=["GET", "PUT", "DELETE"]))
        return routes

    async def health(self, request: Request) -> Response:
        """Live probes of every dependency (concurrently, each bounded by APP_PROBE_TIMEOUT)."""
        checks = await self.svc.monitor.check()
        status, code = overall(checks)
        body = {
            "status": status,
            "timestamp": utc_timestamp(),
            "version": self.svc.settings.version,
            "checks": checks,
        }
        return JSONResponse(body, status_code=code)

    async def metrics(self, request: Request) -> Response:
        """The app's private registry: OpenMetrics if asked (exemplars), else the text format."""
        body, content_type = self.svc.metrics.render(request.headers.get("accept", ""))
        return Response(body, headers={"Content-Type": content_type})

    async def chaos(self, request: Request) -> Response:
        """GET shows, PUT merges fields into, DELETE clears the chaos config."""
        token = self.svc.settings.chaos_token or ""
        given = request.headers.get("x-chaos-token", "")
        if not token or not hmac.compare_digest(given.encode(), token.encode()):
            log.warning("chaos request refused", extra=kv(method=request.method))
            return error(403, "missing or wrong X-Chaos-Token")
        chaos = self.svc.chaos
        if request.method == "GET":
            return JSONResponse(chaos.describe())
        async with self.svc.chaos_lock:
            if request.method == "DELETE":
                await asyncio.to_thread(chaos.clear)
                log.info("chaos cleared", extra=kv(chaos=True))
                return JSONResponse(chaos.describe())
            changes = await json_object(request)
            if changes is None:
                return error(400, "body must be a JSON object")
            try:
                # Allocating ballast touches every page: keep that off the event loop.
                config = await asyncio.to_thread(chaos.update, changes)
            except ChaosError as exc:
                return error(422, str(exc))
        log.warning("chaos configured", extra=kv(chaos=True, **asdict(config)))
        return JSONResponse(chaos.describe())
