"""The GraphQL endpoint: identity from the bearer token, per-request context."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson
import strawberry
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from milestones.auth import Unauthenticated, parse_authorization, verify_token
from milestones.config import Settings
from milestones.domain.users import user_from_claims
from milestones.models import User
from milestones.schema.context import Context
from milestones.subscriptions.bus import WakeupBus


class MilestonesGraphQL(GraphQL[Context, None]):
    def __init__(self, schema: strawberry.Schema, settings: Settings, bus: WakeupBus) -> None:
        super().__init__(
            schema,
            graphql_ide=None if settings.is_production else "graphiql",
            allow_queries_via_get=False,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            connection_init_wait_timeout=timedelta(seconds=settings.connection_init_wait_timeout),
        )
        self.settings = settings
        self.bus = bus

    async def _viewer(self, authorization: str | None) -> User:
        claims = verify_token(self.settings.jwt_secret, parse_authorization(authorization))
        return await user_from_claims(claims)

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket | None
    ) -> Context:
        context = Context(
            settings=self.settings, viewer=None, bus=self.bus, request=request, response=response
        )
        if isinstance(request, Request):
            try:
                context.viewer = await self._viewer(request.headers.get("authorization"))
            except Unauthenticated as error:
                context.auth_error = str(error)
        return context

    async def on_ws_connect(self, context: Context) -> dict[str, Any] | None:
        params = context.connection_params
        authorization = params.get("authorization") if isinstance(params, dict) else None
        try:
            context.viewer = await self._viewer(
                authorization if isinstance(authorization, str) else None
            )
        except Unauthenticated as error:
            raise ConnectionRejectionError({"reason": str(error)}) from error
        return None

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)
