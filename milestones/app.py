"""The Starlette app: routes, lifespan (ORM, wake-up bus), the GraphQL endpoint."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hmac
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Match, Route, WebSocketRoute
from starlette.types import Receive, Scope, Send
from tortoise import connections

from milestones.auth import TokenVerifier
from milestones.config import Settings, get_settings
from milestones.database import database
from milestones.domain import idempotency
from milestones.domain.events import set_email_enabled
from milestones.domain.transaction import set_publisher
from milestones.domain.windows import set_windows
from milestones.email_outbox import EmailOutboxSender
from milestones.live.bus import WakeupBus
from milestones.live.transport import DIRECT_SEND
from milestones.observability.metrics import BROKER_CONNECTED, metrics_response
from milestones.pruning import Pruner
from milestones.rate_limits import RateLimiter
from milestones.scheduler import DeadlineScheduler
from milestones.schema.limits import QueryLimits
from milestones.schema.root import build_schema
from milestones.web.attachments import attachment_routes
from milestones.web.graphql_view import MilestonesGraphQL
from milestones.web.guard import ErrorGuard
from milestones.web.request_observer import RequestObserver
from milestones.web.room_cache import RoomCache
from milestones.web.room_page import room_page_routes
from milestones.web.trusted_documents import TrustedDocuments
from milestones.web.unsubscribe import unsubscribe_routes
from milestones.webhooks.sender import RetryPolicy, WebhookSender

logger = logging.getLogger(__name__)


# Allocations between collections of the young generation (Python's default: 700).
GC_YOUNG_THRESHOLD = 10_000


def tune_gc() -> None:
    """Once started: what startup built (the schema, the models, the routes, some 140,000
    objects) is out of the collector's reach, and young collections are rarer. 10,000 idle
    subscribers hold some 1.4 million tracked objects; with Python's defaults, connecting them
    spent about a third of the server's time in 13 full collections."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


class MilestonesApp(Starlette):
    """The app. A socket on /graphql goes from here straight to the GraphQL view
    (`MilestonesGraphQL.serve_websocket`, which does for it what the middleware does for a
    request; tracing traces HTTP only), past the middleware stack and the router."""

    sockets: MilestonesGraphQL
    # Matched as the router would match it (a root path included); never called.
    _socket_route = WebSocketRoute("/graphql", lambda websocket: None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and self._socket_route.matches(scope)[0] is Match.FULL:
            scope["app"] = self
            await self.sockets.serve_websocket(scope, receive, send)
            return
        if scope["type"] == "http":
            # The server's own send, for an event stream's chunks (`sse.EventStream`).
            scope[DIRECT_SEND] = send
        await super().__call__(scope, receive, send)


def create_app(settings: Settings | None = None) -> MilestonesApp:
    settings = settings or get_settings()
    settings.check()
    if settings.is_production and settings.metrics_token is None:
        logger.warning("METRICS_TOKEN is not set: /metrics answers anyone who reaches the port")
    bus = WakeupBus(settings.broadcast_url)
    tracing = bool(settings.otel_exporter_otlp_endpoint)
    traced: list[Middleware] = []
    if tracing:  # imported only when on: OpenTelemetry is an optional extra
        from milestones.observability import tracing as otel

        traced = otel.install(str(settings.otel_exporter_otlp_endpoint))
    rate_limiter = RateLimiter.from_settings(settings)
    schema = build_schema(
        production=settings.is_production,
        limits=QueryLimits.from_settings(settings),
        document_cache_bytes=settings.document_cache_bytes,
        rate_limiter=rate_limiter,
        tracing=tracing,
    )
    # Read, parsed through the document gate and validated at start: a bad file stops the
    # server here, with its reason, and a trusted document is never parsed again.
    trusted_documents = TrustedDocuments.load(
        settings.persisted_documents,
        schema,
        only=settings.trusted_documents_only,
    )
    verifier = TokenVerifier(
        settings.jwt_secret,
        require_exp=settings.is_production,
        cache_bytes=settings.token_cache_bytes,
        user_refresh_seconds=settings.user_refresh_seconds,
    )
    graphql = MilestonesGraphQL(
        schema,
        settings,
        bus,
        verifier,
        rate_limiter=rate_limiter,
        trusted_documents=trusted_documents,
    )

    room_cache = (
        RoomCache(
            graphql,
            verifier=verifier,
            documents=schema.documents,
            max_bytes=settings.room_cache_bytes,
            max_body=settings.max_body_bytes,
            rate_limiter=rate_limiter,
            trusted_documents=trusted_documents,
        )
        if settings.room_cache_bytes > 0
        else None
    )
    pruner = Pruner.from_settings(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with database(settings.database_url, settings.database_pool_size):
            set_email_enabled(settings.smtp_url is not None)
            set_windows(settings.windows)
            idempotency.set_ttl(settings.idempotency_ttl)
            await bus.start()
            set_publisher(bus.publish)
            emails = EmailOutboxSender.from_settings(settings, bus) if settings.smtp_url else None
            if emails is not None:
                await emails.start()
            webhooks = WebhookSender(
                bus,
                production=settings.is_production,
                timeout_seconds=settings.webhook_timeout_seconds,
                retry=RetryPolicy(
                    first_delay_seconds=settings.webhook_retry_seconds,
                    max_delay_seconds=settings.webhook_max_retry_seconds,
                    window_seconds=settings.webhook_retry_window_seconds,
                ),
                concurrency=settings.webhook_concurrency,
            )
            await webhooks.start()
            app.state.webhooks = webhooks
            app.state.emails = emails
            await pruner.start()
            deadlines = DeadlineScheduler(bus, settings.database_url)
            await deadlines.start()
            if settings.gc_tuning:
                tune_gc()
            try:
                yield
            finally:
                await deadlines.stop()
                await pruner.stop()
                await webhooks.stop()
                if emails is not None:
                    await emails.stop()
                set_publisher(None)
                await bus.stop()
                await rate_limiter.close()
                if tracing:
                    from milestones.observability import tracing as otel

                    await asyncio.to_thread(otel.shutdown)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        # Ready means able to serve: the database is the truth. The broker only rings
        # wake-ups (subscribers poll while it is away), so it is reported, never a reason to
        # take every instance out of the load balancer at once.
        try:
            await connections.get("default").execute_query("SELECT 1")
            database_state = "ok"
        except Exception as error:  # readiness reports, it does not raise
            database_state = f"error: {type(error).__name__}"
        broker_state = "ok" if bus.connected else "down"
        BROKER_CONNECTED.set(1 if bus.connected else 0)
        ready = database_state == "ok"
        return JSONResponse(
            {
                "status": "ready" if ready else "not ready",
                "database": database_state,
                "broker": broker_state,
            },
            status_code=200 if ready else 503,
            headers={"cache-control": "no-store"},
        )

    async def metrics(request: Request) -> Response:
        BROKER_CONNECTED.set(1 if bus.connected else 0)
        if settings.metrics_token is not None:
            expected = f"Bearer {settings.metrics_token.get_secret_value()}".encode()
            given = request.headers.get("authorization", "").encode("latin-1")
            if not hmac.compare_digest(given, expected):
                return JSONResponse(
                    {"error": "/metrics needs Authorization: Bearer <METRICS_TOKEN>."},
                    status_code=401,
                    headers={"www-authenticate": "Bearer", "cache-control": "no-store"},
                )
        return await metrics_response(request)

    async def root(request: Request) -> Response:
        return RedirectResponse("/app/")

    app = MilestonesApp(
        routes=[
            Route("/", root),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/graphql", room_cache or graphql, methods=["GET", "POST"]),
            Route("/metrics", metrics),
            *attachment_routes(verifier, rate_limiter),
            *room_page_routes(settings),
            *unsubscribe_routes(settings),
        ],
        # The guard inside the observer: its answers carry the request id too.
        middleware=[*traced, Middleware(RequestObserver), Middleware(ErrorGuard)],
        lifespan=lifespan,
    )
    app.sockets = graphql
    app.state.settings = settings
    app.state.bus = bus
    app.state.room_cache = room_cache
    app.state.rate_limiter = rate_limiter
    app.state.pruner = pruner
    return app
