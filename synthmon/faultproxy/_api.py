"""Toxiproxy's HTTP API (the subset in README "Endpoints", same JSON and status codes) over a
:class:`~synthmon.faultproxy._proxy.Collection`, as a Starlette app in the proxies' loop."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from synthmon.faultproxy._proxy import Collection
from synthmon.faultproxy._toxics import ApiError, bad_body, new_toxic, update_toxic

VERSION = "2.9.0-synthmon"  # the Toxiproxy API version this one follows
Handler = Callable[[Request], Awaitable[Response]]


def _answers(handler: Handler, lock: asyncio.Lock) -> Handler:
    """One call at a time (as Toxiproxy's collection lock: a create cannot race a create);
    an ApiError becomes Toxiproxy's error body ``{"error": ..., "status": ...}``."""

    async def wrapped(request: Request) -> Response:
        try:
            async with lock:
                return await handler(request)
        except ApiError as exc:
            return JSONResponse({"error": exc.message, "status": exc.status}, exc.status)

    return wrapped


async def _body(request: Request) -> Any:
    try:
        return json.loads(await request.body())
    except ValueError as exc:
        raise bad_body(" ".join(str(exc).split())) from None


def proxy_fields(item: object, where: str) -> tuple[str, str, str, bool]:
    """name, listen, upstream, enabled of one proxy in a create or populate body."""
    if not isinstance(item, dict):
        raise bad_body(f"{where}: expected an object, got {item!r}")
    for key in ("name", "upstream"):
        if not isinstance(item.get(key), str) or not item[key]:
            raise ApiError(f"missing required field: {key}{where}", 400)
    enabled = item.get("enabled", True)
    if not isinstance(enabled, bool):
        raise bad_body(f"enabled{where}: expected true or false, got {enabled!r}")
    return item["name"], item.get("listen") or "127.0.0.1:0", item["upstream"], enabled


def make_app(proxies: Collection) -> Starlette:
    """The API app; every handler edits ``proxies``, which the event loop's proxies share."""

    async def version(request: Request) -> Response:
        return JSONResponse({"version": VERSION})

    async def index(request: Request) -> Response:
        return JSONResponse({n: p.as_json() for n, p in proxies.proxies.items()})

    async def create(request: Request) -> Response:
        proxy = await proxies.add(*proxy_fields(await _body(request), ""))
        return JSONResponse(proxy.as_json(), 201)

    async def populate(request: Request) -> Response:
        try:
            body = await _body(request)
            if not isinstance(body, list):
                raise bad_body(f"expected a list of proxies, got {body!r}")
            wanted = [proxy_fields(item, f" at proxy {i}") for i, item in enumerate(body, 1)]
        except ApiError as exc:  # Toxiproxy's populate error also says "proxies": null
            return JSONResponse(
                {"error": exc.message, "status": exc.status, "proxies": None}, exc.status
            )
        done = [await proxies.add_or_replace(*fields) for fields in wanted]
        return JSONResponse({"proxies": [p.as_json() for p in done]}, 201)

    async def show(request: Request) -> Response:
        return JSONResponse(proxies.get(request.path_params["proxy"]).as_json())

    async def update(request: Request) -> Response:
        proxy = proxies.get(request.path_params["proxy"])
        body = await _body(request)
        if not isinstance(body, dict):
            raise bad_body(f"expected a JSON object, got {body!r}")
        await proxies.update(proxy, body)
        return JSONResponse(proxy.as_json())

    async def delete(request: Request) -> Response:
        await proxies.remove(request.path_params["proxy"])
        return Response(status_code=204)

    async def toxics(request: Request) -> Response:
        proxy = proxies.get(request.path_params["proxy"])
        return JSONResponse([t.as_json() for t in proxy.toxics])

    async def toxic_create(request: Request) -> Response:
        proxy = proxies.get(request.path_params["proxy"])
        toxic = new_toxic(await _body(request))
        proxy.add_toxic(toxic)
        return JSONResponse(toxic.as_json())

    async def toxic_show(request: Request) -> Response:
        proxy = proxies.get(request.path_params["proxy"])
        return JSONResponse(proxy.toxic(request.path_params["toxic"]).as_json())

    async def toxic_update(request: Request) -> Response:
        proxy = proxies.get(request.path_params["proxy"])
        toxic = proxy.toxic(request.path_params["toxic"])
        update_toxic(toxic, await _body(request))
        proxy.renew_toxic(toxic)
        return JSONResponse(toxic.as_json())

    async def toxic_delete(request: Request) -> Response:
        proxies.get(request.path_params["proxy"]).remove_toxic(request.path_params["toxic"])
        return Response(status_code=204)

    async def reset(request: Request) -> Response:
        await proxies.reset()
        return Response(status_code=204)

    table: list[tuple[str, Handler, list[str]]] = [
        ("/version", version, ["GET"]),
        ("/reset", reset, ["POST"]),
        ("/proxies", index, ["GET"]),
        ("/proxies", create, ["POST"]),
        ("/populate", populate, ["POST"]),
        ("/proxies/{proxy}", show, ["GET"]),
        ("/proxies/{proxy}", update, ["POST", "PATCH"]),
        ("/proxies/{proxy}", delete, ["DELETE"]),
        ("/proxies/{proxy}/toxics", toxics, ["GET"]),
        ("/proxies/{proxy}/toxics", toxic_create, ["POST"]),
        ("/proxies/{proxy}/toxics/{toxic}", toxic_show, ["GET"]),
        ("/proxies/{proxy}/toxics/{toxic}", toxic_update, ["POST", "PATCH"]),
        ("/proxies/{proxy}/toxics/{toxic}", toxic_delete, ["DELETE"]),
    ]
    lock = asyncio.Lock()
    return Starlette(routes=[Route(p, _answers(h, lock), methods=m) for p, h, m in table])
