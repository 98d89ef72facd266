"""Application factory: wires services, routes and the observability layer together."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware

from app.api import Api
from app.config import Settings
from app.middleware import Observability
from app.ops import Ops
from app.services import Services


def create_app(settings: Settings | None = None) -> Starlette:
    """Build the ASGI app; dependencies are connected by the lifespan, not here."""
    svc = Services.build(settings or Settings.from_env())
    routes = [*Ops(svc).routes(), *Api(svc).routes()]

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await svc.start()
        try:
            yield
        finally:
            await svc.stop()

    middleware = [Middleware(Observability, routes=routes, metrics=svc.metrics, chaos=svc.chaos)]
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
    app.state.services = svc
    return app
