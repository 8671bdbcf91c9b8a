"""The GraphQL endpoint: identity from the bearer token, per-request context.

HTTP requests are served by `_serve_http` (the GraphQL-over-HTTP rules are in
`milestones.web.graphql_http`); WebSockets go to strawberry's graphql-transport-ws handler, whose
subscriptions are served by shared groups (`milestones.live.transport`).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
from graphql import GraphQLError
from graphql.error import GraphQLSyntaxError
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types.graphql import OperationType

from milestones.auth import (
    TokenVerifier,
    Unauthenticated,
    Verified,
    authorization_in_connection_params,
    parse_authorization,
)
from milestones.config import Settings
from milestones.domain.users import user_from_claims
from milestones.live.bus import WakeupBus
from milestones.live.fanout import SharedSubscriptions
from milestones.live.transport import SharedSubscriptionsHandler
from milestones.models import User
from milestones.observability.logs import current_request_id
from milestones.rate_limits import RateLimiter
from milestones.schema.context import Context
from milestones.schema.documents import PARSED_SCOPE_KEY, parsed_in
from milestones.schema.root import MilestonesSchema
from milestones.web import graphql_http

GRAPHIQL_PAGE = Path(__file__).parent / "static" / "graphiql" / "index.html"


class MilestonesGraphQL(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = SharedSubscriptionsHandler

    def __init__(
        self,
        schema: MilestonesSchema,
        settings: Settings,
        bus: WakeupBus,
        verifier: TokenVerifier,
        rate_limiter: RateLimiter | None = None,
    ) -> None:
        super().__init__(
            schema,
            graphql_ide=None if settings.is_production else "graphiql",
            allow_queries_via_get=False,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            connection_init_wait_timeout=timedelta(seconds=settings.connection_init_wait_timeout),
            max_subscriptions_per_connection=settings.max_subscriptions_per_connection,
        )
        self.settings = settings
        self.bus = bus
        self.verifier = verifier
        self.documents = schema.documents
        self.rate_limiter = rate_limiter
        self.shared_subscriptions = SharedSubscriptions(schema)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope, receive)
        response = await self._serve_http(request)
        await response(scope, receive, send)

    async def _serve_http(self, request: Request) -> Response:
        if graphql_http.wants_graphiql(request) and self.graphql_ide is not None:
            return HTMLResponse(self.graphql_ide_html)
        media_type = graphql_http.negotiate(request.headers.get("accept"))
        try:
            if media_type is None:
                raise graphql_http.RequestRefused(
                    406, "Accept application/graphql-response+json or application/json."
                )
            params = await graphql_http.read_params(request, self.settings.max_body_bytes)
        except graphql_http.RequestRefused as refused:
            return self._respond(
                graphql_http.refusal_body(refused.message, refused.code),
                refused.status,
                media_type or graphql_http.JSON,
                None,
                refused.headers,
            )
        sub_response = Response()
        context = await self.get_context(request, sub_response)
        limit = self._gate(request, params.query, authenticated=context.viewer is not None)
        if limit is not None:  # a limit: answered before strawberry parses anything
            return self._respond(
                graphql_http.body_of(graphql_http.request_error(limit)),
                graphql_http.status_of(graphql_http.request_error(limit), media_type),
                media_type,
                context,
            )
        allowed = {OperationType.QUERY}
        if request.method == "POST":
            allowed.add(OperationType.MUTATION)
        try:
            result = await self.schema.execute(
                params.query,
                variable_values=params.variables,
                context_value=context,
                operation_name=params.operation_name,
                allowed_operation_types=allowed,
                operation_extensions=params.extensions,
            )
        except InvalidOperationTypeError as error:
            if error.operation_type is OperationType.MUTATION:
                return self._respond(
                    graphql_http.refusal_body("Mutations need POST."),
                    405,
                    media_type,
                    context,
                    {"allow": "POST"},
                )
            result = graphql_http.request_error(
                GraphQLError("Subscriptions are served over WebSocket (graphql-transport-ws).")
            )
        except CannotGetOperationTypeError as error:
            result = graphql_http.request_error(GraphQLError(error.as_http_error_reason()))
        refusal = context.rate_limited
        response = self._respond(
            graphql_http.body_of(result),
            429 if refusal is not None else graphql_http.status_of(result, media_type),
            media_type,
            context,
            {"retry-after": str(refusal.retry_after)} if refusal is not None else None,
        )
        response.headers.raw.extend(
            (name, value) for name, value in sub_response.headers.raw if name != b"content-length"
        )
        return response

    def _gate(self, request: Request, query: str, *, authenticated: bool) -> GraphQLError | None:
        """The document through the one gate, once per request: the schema takes the parsed
        document from the scope. A limit's refusal is returned; a syntax error is left to
        strawberry, which answers it as it always has."""
        earlier = parsed_in(request.scope, query)
        if earlier is None:
            try:
                earlier = self.documents.parse(query, cache=authenticated)
            except GraphQLError as error:
                earlier = error
            request.scope[PARSED_SCOPE_KEY] = (query, earlier)
        if isinstance(earlier, GraphQLError) and not isinstance(earlier, GraphQLSyntaxError):
            return earlier
        return None

    def _respond(
        self,
        body: object,
        status: int,
        media_type: str,
        context: Context | None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        response = Response(
            self.encode_json(body),
            status_code=status,
            media_type=media_type,
            headers={"cache-control": "no-store", **(headers or {})},
        )
        # RequestObserver (the app's middleware) sets the header on every response it serves.
        if context is not None and current_request_id() is None:
            response.headers["x-request-id"] = context.request_id
        return response

    @property
    def graphql_ide_html(self) -> str:
        # Ours: subscriptions send the Headers tab's Authorization in connection_init, and
        # in development the demo users' tokens are one click away.
        return GRAPHIQL_PAGE.read_text(encoding="utf-8")

    async def _viewer(self, authorization: str | None) -> tuple[User, Verified]:
        verified = self.verifier.verify(parse_authorization(authorization))
        return await user_from_claims(verified.claims), verified

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket | None
    ) -> Context:
        context = Context(
            settings=self.settings, viewer=None, bus=self.bus, request=request, response=response
        )
        if isinstance(request, Request):
            try:
                context.viewer, _ = await self._viewer(request.headers.get("authorization"))
            except Unauthenticated as error:
                context.auth_error = str(error)
        return context

    async def on_ws_connect(self, context: Context) -> dict[str, Any] | None:
        authorization = authorization_in_connection_params(context.connection_params)
        try:
            context.viewer, verified = await self._viewer(authorization)
        except Unauthenticated as error:
            raise ConnectionRejectionError({"reason": str(error)}) from error
        # The socket lives as long as its token (the transport closes it at expiry).
        context.token_expires_at = verified.expires_at
        return None

    def encode_json(self, data: object) -> str:
        # Text, not bytes: strawberry sends bytes as binary WebSocket frames, which browser
        # graphql-transport-ws clients (graphql-ws, the /app page) cannot parse.
        return orjson.dumps(data).decode()
