"""A local stand-in for the GitHub REST API: rate limit, repositories, and test controls.

`python -m app.fake_github --host 127.0.0.1 --port P`. State is in memory. Every response carries
GitHub's X-RateLimit-* headers; GET /repos/... costs one request of quota and answers 403
"API rate limit exceeded" at zero, like the real thing. Repositories whose name starts with
"missing" answer 404. Test controls: PUT /_fake/rate_limit, GET /_fake/state.
"""

from __future__ import annotations

import argparse
import hashlib
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from app.logs import log_config

DEFAULT_LIMIT = 5000
WINDOW_SECONDS = 3600
DOCS_URL = "https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting"


@dataclass
class Quota:
    """The core rate-limit window."""

    limit: int = DEFAULT_LIMIT
    remaining: int = DEFAULT_LIMIT
    reset: int = field(default_factory=lambda: int(time.time()) + WINDOW_SECONDS)

    def roll(self) -> None:
        """Start a fresh window once the reset time has passed, as GitHub does."""
        now = int(time.time())
        if now >= self.reset:
            self.remaining = self.limit
            self.reset = now + WINDOW_SECONDS

    @property
    def used(self) -> int:
        """Requests spent in this window."""
        return max(0, self.limit - self.remaining)

    def as_dict(self) -> dict[str, Any]:
        """GitHub's per-resource shape."""
        return {
            "limit": self.limit,
            "used": self.used,
            "remaining": self.remaining,
            "reset": self.reset,
            "resource": "core",
        }

    def headers(self) -> dict[str, str]:
        """The X-RateLimit-* headers GitHub sends on every response."""
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset),
            "X-RateLimit-Used": str(self.used),
            "X-RateLimit-Resource": "core",
        }


@dataclass
class FakeState:
    """Quota plus counters a test can assert on (the token itself is never stored)."""

    quota: Quota = field(default_factory=Quota)
    requests: dict[str, int] = field(default_factory=lambda: {"rate_limit": 0, "repos": 0})
    authenticated_requests: int = 0
    last_auth_scheme: str | None = None

    def seen(self, request: Request, kind: str) -> None:
        """Count a request and remember how (not with what) it authenticated."""
        self.requests[kind] += 1
        auth = request.headers.get("authorization")
        if auth:
            self.authenticated_requests += 1
            self.last_auth_scheme = auth.split(" ", 1)[0]


def repo_payload(owner: str, name: str) -> dict[str, Any]:
    """A deterministic repository object in GitHub's shape (the commonly used fields)."""
    digest = int(hashlib.sha256(f"{owner}/{name}".encode()).hexdigest()[:8], 16)
    full = f"{owner}/{name}"
    return {
        "id": digest,
        "node_id": f"R_{digest:x}",
        "name": name,
        "full_name": full,
        "private": False,
        "owner": {"login": owner, "id": digest // 7, "type": "Organization"},
        "html_url": f"https://github.com/{full}",
        "description": f"Fake repository {full}",
        "fork": False,
        "url": f"https://api.github.com/repos/{full}",
        "created_at": "2023-01-15T10:00:00Z",
        "updated_at": "2025-08-01T12:00:00Z",
        "pushed_at": "2025-08-01T12:00:00Z",
        "stargazers_count": digest % 5000,
        "watchers_count": digest % 5000,
        "forks_count": digest % 300,
        "open_issues_count": digest % 50,
        "language": "Python",
        "default_branch": "main",
        "visibility": "public",
    }


def create_app() -> Starlette:
    """The fake API with its own fresh state."""
    state = FakeState()

    def reply(body: Any, status: int = 200) -> JSONResponse:
        return JSONResponse(body, status_code=status, headers=state.quota.headers())

    async def rate_limit(request: Request) -> JSONResponse:
        state.quota.roll()
        state.seen(request, "rate_limit")
        core = state.quota.as_dict()
        return reply({"resources": {"core": core}, "rate": core})

    async def repo(request: Request) -> JSONResponse:
        quota = state.quota
        quota.roll()
        state.seen(request, "repos")
        if quota.remaining <= 0:
            return reply({"message": "API rate limit exceeded", "documentation_url": DOCS_URL}, 403)
        quota.remaining -= 1
        owner, name = request.path_params["owner"], request.path_params["repo"]
        if name.startswith("missing"):
            return reply({"message": "Not Found", "documentation_url": DOCS_URL}, 404)
        return reply(repo_payload(owner, name))

    async def set_rate_limit(request: Request) -> JSONResponse:
        try:
            body = await request.json()
            remaining = int(body["remaining"])
            limit = int(body.get("limit", state.quota.limit))
        except (ValueError, KeyError, TypeError):
            return reply({"message": 'body must be {"remaining": int, "limit": int?}'}, 422)
        if limit < 0 or remaining < 0:
            return reply({"message": "remaining and limit must be >= 0"}, 422)
        state.quota.limit, state.quota.remaining = limit, remaining
        state.quota.reset = int(time.time()) + WINDOW_SECONDS
        return reply(state.quota.as_dict())

    async def get_state(request: Request) -> JSONResponse:
        return reply(
            {
                **state.quota.as_dict(),
                "requests": dict(state.requests),
                "authenticated_requests": state.authenticated_requests,
                "last_auth_scheme": state.last_auth_scheme,
            }
        )

    async def not_found(request: Request, exc: Exception) -> JSONResponse:
        return reply({"message": "Not Found", "documentation_url": DOCS_URL}, 404)

    routes = [
        Route("/rate_limit", rate_limit, methods=["GET"]),
        Route("/repos/{owner}/{repo}", repo, methods=["GET"]),
        Route("/_fake/rate_limit", set_rate_limit, methods=["PUT"]),
        Route("/_fake/state", get_state, methods=["GET"]),
    ]
    return Starlette(routes=routes, exception_handlers={404: not_found})


def main(argv: list[str] | None = None) -> None:
    """Serve the fake on one uvicorn worker with JSON logs."""
    parser = argparse.ArgumentParser(prog="python -m app.fake_github", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    args = parser.parse_args(argv)
    uvicorn.run(
        create_app(),
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        log_config=log_config("INFO"),
        access_log=False,
        server_header=False,
    )


if __name__ == "__main__":
    main()
