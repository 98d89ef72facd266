"""The HTTP API.

GET /v1/links/{link_id}        check a link now: GET {upstream}/status/{link_id}, store the
                               result in Redis, answer it. Never served from the cache.
GET /v1/links/{link_id}/last   the last stored result (Redis only; 404 if never checked)
GET /healthz                   probes Redis and the upstream (contract in README.md)
GET /metrics                   Prometheus exposition
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from linkcheck import __version__, telemetry
from linkcheck.config import Settings
from linkcheck.deps import Dependencies
from linkcheck.metrics import instrument

log = logging.getLogger("linkcheck")
KEY = "linkcheck:result:{}"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _error(status: int, detail: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"detail": detail, **extra}, status_code=status)


async def _prober(deps: Dependencies, interval_s: float) -> None:
    """Probe every ``interval_s`` so the gauge is fresh even when nobody calls /healthz."""
    while True:
        try:
            with telemetry.untraced():
                await deps.probe_all()
        except Exception:  # a bug here must not stop the loop; the gauge goes stale
            log.exception("background probe failed")
        await asyncio.sleep(interval_s)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        deps = Dependencies(settings)
        app.state.deps = deps
        await deps.probe_all()  # the gauge has a value before the first scrape
        task = asyncio.create_task(_prober(deps, settings.probe_interval_s))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await deps.aclose()

    app = FastAPI(title="linkcheck", version=__version__, lifespan=lifespan)
    instrument(app)
    telemetry.setup(app)  # traces only with OTEL_EXPORTER_OTLP_ENDPOINT set

    def deps_of(request: Request) -> Dependencies:
        deps: Dependencies = request.app.state.deps
        return deps

    @app.get("/healthz")
    async def healthz(request: Request) -> JSONResponse:
        probes = await deps_of(request).probe_all()
        failing = [name for name, probe in probes.items() if not probe.ok]
        if not failing:
            status = "ok"
        elif len(failing) < len(probes):
            status = "degraded"
        else:
            status = "down"
        body = {
            "status": status,
            "version": __version__,
            "checked_at": _now(),
            "dependencies": {name: probe.as_dict() for name, probe in probes.items()},
        }
        return JSONResponse(body, status_code=200 if status == "ok" else 503)

    @app.get("/v1/links/{link_id}")
    async def check_link(link_id: str, request: Request) -> JSONResponse:
        deps = deps_of(request)
        start = time.perf_counter()
        try:
            upstream = await deps.http.get(f"/status/{link_id}")
        except httpx.TimeoutException:
            limit = settings.upstream_timeout_s
            return _error(504, f"status API did not answer within {limit:g}s")
        except httpx.HTTPError as exc:
            return _error(503, f"status API unreachable: {type(exc).__name__}")
        code = upstream.status_code
        if code == 404:
            return _error(404, f"unknown link {link_id!r}")
        if code == 429:
            retry = upstream.headers.get("Retry-After")
            headers = {"Retry-After": retry} if retry else None
            response = _error(503, "status API quota exhausted")
            if headers:
                response.headers.update(headers)
            return response
        if code >= 300:
            return _error(502, f"status API answered HTTP {code}", upstream_status=code)
        try:
            details = upstream.json()
        except ValueError:
            details = None
        result = {
            "id": link_id,
            "reachable": True,
            "upstream_status": code,
            "upstream_ms": round((time.perf_counter() - start) * 1000, 1),
            "checked_at": _now(),
            "details": details if isinstance(details, dict) else None,
        }
        try:
            await deps.redis.set(KEY.format(link_id), json.dumps(result), ex=settings.result_ttl_s)
            stored = True
        except Exception as exc:  # Redis down: the check still answers, unstored
            log.warning("could not store result of %s: %s", link_id, exc)
            stored = False
        return JSONResponse({**result, "stored": stored})

    @app.get("/v1/links/{link_id}/last")
    async def last_result(link_id: str, request: Request) -> JSONResponse:
        try:
            raw = await deps_of(request).redis.get(KEY.format(link_id))
        except Exception as exc:
            log.warning("could not read result of %s: %s", link_id, exc)
            return _error(503, "result store unavailable")
        if raw is None:
            return _error(404, f"link {link_id!r} was never checked")
        return JSONResponse(json.loads(raw))

    return app
