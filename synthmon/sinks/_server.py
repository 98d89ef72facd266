"""The sinks process: every integration's HTTP endpoint and one SMTP port in one asyncio loop.

Alertmanager's real integrations post here, so a test proves the whole path: routing,
templates, secrets files, retries, the wire formats. A destination is named by its path,
``/r/{receiver}/{integration}/{index}[/{rest}]`` (the receiver URL-quoted), so who was
notified never depends on what a template wrote.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Iterator
from typing import TextIO
from urllib.parse import unquote

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from synthmon.sinks._inbox import inbox_html, inbox_json
from synthmon.sinks._model import kind_of
from synthmon.sinks._parse import alerts_of, decode
from synthmon.sinks._responders import Call, Reply, respond, shown_path
from synthmon.sinks._smtp import smtp_server, tls_context
from synthmon.sinks._store import Store

ANY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]


def split_destination(raw_path: str) -> tuple[str, str, str, str] | None:
    """``/r/{receiver}/{integration}/{index}[/{rest}]`` (raw, still quoted) -> its parts,
    the receiver unquoted; None when the path does not have that shape."""
    parts = raw_path.split("/", 5)  # "", "r", receiver, integration, index, rest
    if len(parts) < 5 or parts[1] != "r" or not parts[4].isdigit():
        return None
    return (
        unquote(parts[2]),
        unquote(parts[3]),
        parts[4],
        unquote(parts[5] if len(parts) > 5 else ""),
    )


def build_app(store: Store, smtp_port: int) -> Starlette:
    """The HTTP side: every destination, plus the read/clear API and the inbox."""

    async def destination(request: Request) -> Response:
        raw = request.scope.get("raw_path", request.url.path.encode()).decode("latin-1")
        found = split_destination(raw.split("?", 1)[0])
        if found is None:
            message = "expected /r/{receiver}/{integration}/{index}[/...], got " + raw
            store.add_request("", "", 0, request.method, raw, status_code=404, notification=False,
                              errors=(message,))  # fmt: skip
            return PlainTextResponse(message, 404)
        receiver, kind, index, rest = found
        body = await request.body()
        call = Call(
            request.method, rest, decode(request.headers.get("content-type", ""), body),
            dict(request.query_params), {k.lower(): v for k, v in request.headers.items()},
        )  # fmt: skip
        reply = respond(kind, call, store.state((receiver, kind, int(index))))
        path = shown_path(kind, rest)
        store.add_request(receiver, kind, int(index), request.method, path,
                          status_code=reply.code, notification=reply.notification,
                          errors=reply.errors)  # fmt: skip
        if reply.notification:
            payload = call.payload if body or not call.query else dict(call.query)
            alerts = alerts_of(kind, payload, reply.status)
            store.add(kind_of(kind), reply.channel, alerts, payload, receiver=receiver,
                      index=int(index), method=request.method, path=path)  # fmt: skip
        return _response(reply)

    async def notifications(request: Request) -> Response:
        if request.method == "DELETE":
            return JSONResponse({"cleared": store.clear()})
        since = _since(request)
        if isinstance(since, Response):
            return since
        return JSONResponse([n.to_json() for n in store.snapshot(since)])

    async def requests(request: Request) -> Response:
        since = _since(request)
        if isinstance(since, Response):
            return since
        return JSONResponse([r.to_json() for r in store.requests(since)])

    async def inbox(request: Request) -> Response:
        return JSONResponse(inbox_json(store.snapshot()))

    async def inbox_page(request: Request) -> Response:
        return HTMLResponse(inbox_html(store.snapshot()))

    async def ready(request: Request) -> Response:
        return JSONResponse({"status": "ready", "smtp_port": smtp_port})

    return Starlette(
        routes=[
            Route("/r/{rest:path}", destination, methods=ANY_METHOD),
            Route("/notifications", notifications, methods=["GET", "DELETE"]),
            Route("/requests", requests, methods=["GET"]),
            Route("/inbox", inbox, methods=["GET"]),
            Route("/inbox.html", inbox_page, methods=["GET"]),
            Route("/-/ready", ready, methods=["GET"]),
            Route("/-/healthy", ready, methods=["GET"]),
        ]
    )


def _response(reply: Reply) -> Response:
    if isinstance(reply.body, dict | list):
        return JSONResponse(reply.body, reply.code)
    if reply.body is None:
        return Response(status_code=reply.code)
    return Response(reply.body, reply.code, media_type=reply.media_type or "text/plain")


def _since(request: Request) -> float | Response | None:
    since = request.query_params.get("since")
    try:
        return float(since) if since else None
    except ValueError:
        return PlainTextResponse(f"since must be a Unix time, got {since!r}", 400)


class _Server(uvicorn.Server):
    """uvicorn without its signal capture: we own SIGTERM so the SMTP side closes too."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve(host: str, http_port: int, smtp_port: int, log: TextIO) -> None:
    """Run both servers until SIGTERM/SIGINT."""
    store = Store(log)
    loop = asyncio.get_running_loop()
    context = tls_context()
    smtp = await loop.create_server(lambda: smtp_server(store, context), host, smtp_port)
    config = uvicorn.Config(
        build_app(store, smtp_port), host=host, port=http_port, log_level="warning",
        access_log=False, lifespan="off",
    )  # fmt: skip
    server = _Server(config)
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, server.handle_exit, sig, None)
    store.log(event="started", host=host, http_port=http_port, smtp_port=smtp_port)
    try:
        await server.serve()
    finally:
        smtp.close()
        await smtp.wait_closed()
        store.log(event="stopped")
