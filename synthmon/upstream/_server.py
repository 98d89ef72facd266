"""The fake upstream's HTTP side: the routes of a routes file, and the control API under /_fake/.

State is in memory, in one asyncio loop (no lock needed). Each request to a route counts;
one to a quota-counted route costs one of the shared quota first, and answers the quota's
``exhausted`` reply once none is left. A route's delay is slept before it answers.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route as StarletteRoute

from synthmon.upstream._model import (
    CONTROL_PREFIX,
    MAX_DELAY_MS,
    Quota,
    Reply,
    Route,
    RoutesFile,
    render,
)

ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
CONTROL = (
    "GET /_fake/state",
    "PUT /_fake/routes/{name}",
    "PUT /_fake/quota",
    "POST /_fake/reset",
    "GET /_fake/requests",
)
_NO_BODY = frozenset({204, 304})


@dataclass
class RouteState:
    """A route's running values and what it has seen (never the credentials themselves)."""

    status: int
    delay_ms: float
    count: int = 0
    authenticated: int = 0
    last_auth_scheme: str | None = None

    def seen(self, request: Request) -> None:
        self.count += 1
        auth = request.headers.get("authorization")
        if auth:
            self.authenticated += 1
            self.last_auth_scheme = auth.split(" ", 1)[0]


@dataclass
class QuotaState:
    limit: int
    remaining: int
    reset: int
    window_s: float

    @classmethod
    def of(cls, quota: Quota) -> QuotaState:
        return cls(quota.limit, quota.remaining, _reset_at(quota.reset_s), quota.reset_s)

    def roll(self) -> None:
        """A fresh window once the reset time has passed."""
        if time.time() >= self.reset:
            self.remaining, self.reset = self.limit, _reset_at(self.window_s)

    @property
    def used(self) -> int:
        return max(0, self.limit - self.remaining)

    def values(self) -> dict[str, int]:
        return {
            "limit": self.limit,
            "remaining": self.remaining,
            "reset": self.reset,
            "used": self.used,
        }


class Running:
    """The file's routes with their current values; :meth:`reset` goes back to the file."""

    def __init__(self, spec: RoutesFile) -> None:
        self.spec = spec
        self.reset()

    def reset(self) -> None:
        self.routes = {r.name: RouteState(r.status, r.delay_ms) for r in self.spec.routes}
        self.quota = QuotaState.of(self.spec.quota) if self.spec.quota else None
        self.unmatched = 0

    def state(self) -> dict[str, Any]:
        return {
            "routes": {r.name: self.route_state(r) for r in self.spec.routes},
            "quota": self.quota_state(),
            "default": {"status": self.spec.default.status},
        }

    def route_state(self, route: Route) -> dict[str, Any]:
        now = self.routes[route.name]
        return {
            "method": route.method,
            "path": route.path,
            "status": now.status,
            "delay_ms": now.delay_ms,
            "quota": route.quota,
        }

    def quota_state(self) -> dict[str, Any] | None:
        if self.quota is None:
            return None
        self.quota.roll()
        return {**self.quota.values(), "reset_s": self.quota.window_s}

    def requests(self) -> dict[str, Any]:
        counts = {
            name: {
                "count": s.count,
                "authenticated": s.authenticated,
                "last_auth_scheme": s.last_auth_scheme,
            }
            for name, s in self.routes.items()
        }
        total = sum(s.count for s in self.routes.values()) + self.unmatched
        return {"total": total, "routes": counts, "unmatched": self.unmatched}


def build_app(spec: RoutesFile) -> Starlette:
    """The routes of ``spec`` plus the control API."""
    running = Running(spec)

    def quota_headers() -> dict[str, str]:
        if running.quota is None or spec.quota is None:
            return {}
        values = running.quota.values()
        return {name: str(values[key]) for key, name in spec.quota.headers.items() if name}

    def values(params: dict[str, str]) -> dict[str, str | int]:
        return {**(running.quota.values() if running.quota else {}), **params}

    def answer(
        request: Request, status: int, body: Any, headers: dict[str, str], params: dict[str, str]
    ) -> Response:
        filled = values(params)
        sent = {**quota_headers(), **{k: str(render(v, filled)) for k, v in headers.items()}}
        if body is None or status in _NO_BODY or status < 200 or request.method == "HEAD":
            return Response(b"", status_code=status, headers=sent)
        return JSONResponse(render(body, filled), status_code=status, headers=sent)

    def reply(request: Request, fixed: Reply, params: dict[str, str]) -> Response:
        return answer(request, fixed.status, fixed.body, dict(fixed.headers), params)

    async def upstream(request: Request) -> Response:
        path, allowed = request.url.path, []
        for route in spec.routes:
            params = route.match(path)
            if params is None:
                continue
            if route.method == request.method or (
                request.method == "HEAD" and route.method == "GET"
            ):
                return await serve(request, route, params)
            allowed.append(route.method)
        running.unmatched += 1
        if running.quota:
            running.quota.roll()
        if allowed:
            body = {"message": f"{request.method} not allowed on {path}", "allowed": allowed}
            headers = {**quota_headers(), "Allow": ", ".join(allowed)}
            return JSONResponse(body, status_code=405, headers=headers)
        return reply(request, spec.default, {})

    async def serve(request: Request, route: Route, params: dict[str, str]) -> Response:
        now = running.routes[route.name]
        now.seen(request)
        status, delay_ms = now.status, now.delay_ms
        spent = False
        if running.quota is not None:
            running.quota.roll()
            if route.quota:
                spent = running.quota.remaining <= 0
                if not spent:
                    running.quota.remaining -= 1
        if delay_ms > 0:
            await asyncio.sleep(delay_ms / 1000)
        if spent and spec.quota is not None:
            return reply(request, spec.quota.exhausted, params)
        if status == route.status or 200 <= status < 300:
            body = route.body
        else:  # a status set while running: the file's body belongs to the file's status
            body = {"message": _phrase(status), "route": route.name}
        return answer(request, status, body, dict(route.headers), params)

    # -- control API ------------------------------------------------------------------------
    async def get_state(request: Request) -> Response:
        return JSONResponse(running.state())

    async def set_route(request: Request) -> Response:
        name = request.path_params["name"]
        if name != "*" and name not in running.routes:
            known = list(running.routes)
            message = f"no route {name!r} (have: {', '.join(known)}; * for all)"
            return JSONResponse({"error": message, "routes": known}, status_code=404)
        changes = await _changes(request, {"status": _status, "delay_ms": _delay})
        if isinstance(changes, Response):
            return changes
        chosen = spec.routes if name == "*" else [r for r in spec.routes if r.name == name]
        for route in chosen:
            now = running.routes[route.name]
            now.status = int(changes.get("status", now.status))
            now.delay_ms = float(changes.get("delay_ms", now.delay_ms))
        _log("route", route=name, **changes)
        return JSONResponse({r.name: running.route_state(r) for r in chosen})

    async def set_quota(request: Request) -> Response:
        if running.quota is None:
            message = f"{spec.source} has no quota: section"
            return JSONResponse({"error": message}, status_code=404)
        changes = await _changes(request, {"remaining": _count, "limit": _count})
        if isinstance(changes, Response):
            return changes
        quota = running.quota
        quota.limit = int(changes.get("limit", quota.limit))
        quota.remaining = int(changes.get("remaining", quota.remaining))
        quota.reset = _reset_at(quota.window_s)  # a new window, as if the quota had just reset
        _log("quota", **changes)
        return JSONResponse(running.quota_state())

    async def reset(request: Request) -> Response:
        running.reset()
        _log("reset")
        return JSONResponse(running.state())

    async def get_requests(request: Request) -> Response:
        return JSONResponse(running.requests())

    async def control_unknown(request: Request) -> Response:
        message = f"{request.method} {request.url.path}: not a control endpoint"
        return JSONResponse({"error": message, "control": list(CONTROL)}, status_code=404)

    return Starlette(
        routes=[
            StarletteRoute(f"{CONTROL_PREFIX}/state", get_state, methods=["GET"]),
            StarletteRoute(f"{CONTROL_PREFIX}/routes/{{name}}", set_route, methods=["PUT"]),
            StarletteRoute(f"{CONTROL_PREFIX}/quota", set_quota, methods=["PUT"]),
            StarletteRoute(f"{CONTROL_PREFIX}/reset", reset, methods=["POST"]),
            StarletteRoute(f"{CONTROL_PREFIX}/requests", get_requests, methods=["GET"]),
            StarletteRoute(f"{CONTROL_PREFIX}/{{rest:path}}", control_unknown, methods=ALL_METHODS),
            StarletteRoute("/{path:path}", upstream, methods=ALL_METHODS),
        ]
    )


Check = Any  # a function (value) -> problem or "", per control key


def _status(value: Any) -> str:
    ok = not isinstance(value, bool) and isinstance(value, int) and 100 <= value <= 599
    return "" if ok else f"must be an HTTP status (100-599), got {value!r}"


def _delay(value: Any) -> str:
    ok = not isinstance(value, bool) and isinstance(value, int | float)
    return "" if ok and 0 <= value <= MAX_DELAY_MS else f"must be 0-{MAX_DELAY_MS:g}, got {value!r}"


def _count(value: Any) -> str:
    ok = not isinstance(value, bool) and isinstance(value, int) and value >= 0
    return "" if ok else f"must be an integer >= 0, got {value!r}"


async def _changes(request: Request, checks: dict[str, Check]) -> dict[str, Any] | Response:
    """The JSON object of a control request, each key checked; a 422 explaining otherwise."""
    expected = "{" + ", ".join(f'"{k}"?' for k in checks) + "}"
    try:
        body = json.loads(await request.body() or b"null")
    except ValueError:
        body = None
    if not isinstance(body, dict) or not body:
        return _unprocessable(f"the body must be a JSON object {expected}")
    for key, value in body.items():
        if key not in checks:
            return _unprocessable(f"unknown key {key!r} (allowed: {', '.join(checks)})")
        problem = checks[key](value)
        if problem:
            return _unprocessable(f"{key}: {problem}")
    return body


def _unprocessable(message: str) -> Response:
    return JSONResponse({"error": message}, status_code=422)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


def _reset_at(window_s: float) -> int:
    return int(time.time() + window_s)


def _log(event: str, **fields: Any) -> None:
    """One JSON line on stdout per control change (the run directory keeps it)."""
    print(json.dumps({"ts": time.time(), "event": event, **fields}), file=sys.stdout, flush=True)
