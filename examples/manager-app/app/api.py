"""Business endpoints: tasks (PostgreSQL + Redis cache), login, and the GitHub repo proxy."""

from __future__ import annotations

import hmac
import json
import logging
import re
import secrets
from typing import Any

from psycopg import Error as DatabaseError
from psycopg_pool import PoolTimeout
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.github import UpstreamError
from app.logs import kv
from app.services import Services

log = logging.getLogger("app.api")

MAX_TITLE = 500
_PG_INT_MAX = 2**31 - 1
_GITHUB_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
_DB_ERRORS = (DatabaseError, PoolTimeout, TimeoutError, OSError)


def error(status: int, message: str) -> JSONResponse:
    """The one error shape: {"error": message}."""
    return JSONResponse({"error": message}, status_code=status)


def db_unavailable(exc: BaseException) -> JSONResponse:
    """A dependency failure the client can retry: 503, logged as WARNING (not a bug)."""
    log.warning("database unavailable", extra=kv(error=type(exc).__name__))
    return error(503, "database unavailable")


async def json_object(request: Request) -> dict[str, Any] | None:
    """The request body as a JSON object, or None when it is not one."""
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


def _task_id(request: Request) -> int | None:
    raw = request.path_params["task_id"]
    if not raw.isdigit() or not 0 < int(raw) <= _PG_INT_MAX:
        return None
    return int(raw)


class Api:
    """Handlers bound to the running services."""

    def __init__(self, svc: Services) -> None:
        self.svc = svc

    def routes(self) -> list[Route]:
        """Route templates double as the metrics `endpoint` label: keep them stable."""
        return [
            Route("/api/tasks", self.list_tasks, methods=["GET"]),
            Route("/api/tasks", self.create_task, methods=["POST"]),
            Route("/api/tasks/{task_id}", self.get_task, methods=["GET"]),
            Route("/api/tasks/{task_id}/complete", self.complete_task, methods=["POST"]),
            Route("/api/repos/{owner}/{repo}", self.repo, methods=["GET"]),
            Route("/api/login", self.login, methods=["POST"]),
        ]

    async def list_tasks(self, request: Request) -> Response:
        """Newest tasks first; served from Redis when cached, from the database otherwise."""
        cache = self.svc.cache
        cached = await cache.get_list()
        if cached is not None:
            return Response(cached, media_type="application/json", headers={"X-Cache": "hit"})
        generation = cache.generation
        try:
            tasks = await self.svc.db.list_tasks()
        except _DB_ERRORS as exc:
            return db_unavailable(exc)
        body = json.dumps({"tasks": tasks}, separators=(",", ":")).encode()
        await cache.set_list(body, generation)
        return Response(body, media_type="application/json", headers={"X-Cache": "miss"})

    async def create_task(self, request: Request) -> Response:
        """Create from {"title": str}; 422 for a missing, empty or oversized title."""
        body = await json_object(request)
        if body is None:
            return error(400, "body must be a JSON object")
        title = body.get("title")
        if not isinstance(title, str) or not title.strip() or len(title) > MAX_TITLE:
            return error(422, f"title must be a non-empty string of at most {MAX_TITLE} chars")
        try:
            task = await self.svc.db.create_task(title.strip())
        except _DB_ERRORS as exc:
            return db_unavailable(exc)
        await self.svc.cache.invalidate()
        return JSONResponse(task, status_code=201)

    async def get_task(self, request: Request) -> Response:
        """One task or 404."""
        task_id = _task_id(request)
        if task_id is None:
            return error(404, "task not found")
        try:
            task = await self.svc.db.get_task(task_id)
        except _DB_ERRORS as exc:
            return db_unavailable(exc)
        return JSONResponse(task) if task else error(404, "task not found")

    async def complete_task(self, request: Request) -> Response:
        """Mark done (idempotent); tasks_completed_total counts only real transitions."""
        task_id = _task_id(request)
        if task_id is None:
            return error(404, "task not found")
        try:
            task, changed = await self.svc.db.complete_task(task_id)
        except _DB_ERRORS as exc:
            return db_unavailable(exc)
        if task is None:
            return error(404, "task not found")
        if changed:
            self.svc.metrics.tasks_completed.inc()
            await self.svc.cache.invalidate()
        return JSONResponse(task)

    async def repo(self, request: Request) -> Response:
        """Proxy GET /repos/{owner}/{repo}: upstream 404 stays 404, any other failure is 502."""
        owner, name = request.path_params["owner"], request.path_params["repo"]
        if not (_GITHUB_NAME.match(owner) and _GITHUB_NAME.match(name)) or {owner, name} & {
            ".",
            "..",
        }:
            return error(404, "repository not found")
        try:
            repo = await self.svc.github.repo(owner, name)
        except UpstreamError as exc:
            log.warning("github upstream failed", extra=kv(error=str(exc)))
            return error(502, "github upstream failed")
        return JSONResponse(repo) if repo is not None else error(404, "repository not found")

    async def login(self, request: Request) -> Response:
        """User "demo" with APP_LOGIN_PASSWORD; failures are counted and logged, secrets never."""
        body = await json_object(request) or {}
        username, password = body.get("username"), body.get("password")
        expected = self.svc.settings.login_password.encode()
        ok = (
            isinstance(username, str)
            and isinstance(password, str)
            and hmac.compare_digest(username.encode(), b"demo")
            & hmac.compare_digest(password.encode(), expected)
        )
        if not ok:
            self.svc.metrics.login_failures.inc()
            shown = username[:64] if isinstance(username, str) else None
            log.warning("login failed", extra=kv(username=shown))
            return error(401, "invalid credentials")
        log.info("login succeeded", extra=kv(username="demo"))
        return JSONResponse({"token": secrets.token_urlsafe(32)})
