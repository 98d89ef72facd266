"""Application factory: wires services, routes and the observability layer together."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware

from app import telemetry
from app.api import Api
from app.config import Settings
from app.middleware import Observability
from app.ops import Ops
from app.services import Services


def create_app(settings: Settings | None = None) -> Starlette:
    """Build the ASGI app; dependencies are connected by the lifespan, not here."""
    traced = telemetry.setup()  # before the clients are built: httpx is instrumented per client
    svc = Services.build(settings or Settings.from_env())
    routes = [*Ops(svc).routes(), *Api(svc).routes()]

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        telemetry.attach_log_handler()
        await svc.start()
        try:
            yield
        finally:
            await svc.stop()
            await asyncio.to_thread(telemetry.shutdown)

    middleware = [Middleware(Observability, routes=routes, metrics=svc.metrics, chaos=svc.chaos)]
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
    if traced:
        telemetry.instrument_app(app, routes)
    app.state.services = svc
    return app
