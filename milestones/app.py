"""The Starlette app: routes, lifespan (ORM, wake-up bus), the GraphQL endpoint."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route, WebSocketRoute
from tortoise import connections

from milestones.config import Settings, get_settings
from milestones.database import database
from milestones.domain.events import set_email_enabled
from milestones.domain.transaction import set_publisher
from milestones.graphql_view import MilestonesGraphQL
from milestones.schema.root import build_schema
from milestones.subscriptions.bus import WakeupBus


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or get_settings()
    settings.check()
    bus = WakeupBus(settings.broadcast_url)
    graphql = MilestonesGraphQL(build_schema(production=settings.is_production), settings, bus)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with database(settings.database_url):
            set_email_enabled(settings.smtp_url is not None)
            await bus.start()
            set_publisher(bus.publish)
            try:
                yield
            finally:
                set_publisher(None)
                await bus.stop()

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        checks: dict[str, str] = {}
        try:
            await connections.get("default").execute_query("SELECT 1")
            checks["database"] = "ok"
        except Exception as error:  # readiness reports, it does not raise
            checks["database"] = f"error: {type(error).__name__}"
        checks["broker"] = "ok" if bus.connected else "down"
        ready = all(value == "ok" for value in checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", **checks},
            status_code=200 if ready else 503,
        )

    async def root(request: Request) -> Response:
        return RedirectResponse("/graphql")

    app = Starlette(
        routes=[
            Route("/", root),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
        ],
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.bus = bus
    return app
