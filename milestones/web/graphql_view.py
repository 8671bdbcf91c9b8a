"""The GraphQL endpoint: identity from the bearer token, per-request context.

HTTP requests are served by `_serve_http` (the GraphQL-over-HTTP rules are in
`milestones.web.graphql_http`), or as an event stream when they accept `text/event-stream`
(`milestones.web.sse`); a multipart POST (file uploads, `submitMilestone` only) is read by
`milestones.web.uploads`; WebSockets go to strawberry's graphql-transport-ws handler.
Subscriptions on both are served by shared groups (`milestones.live.fanout`), and every
transport runs only trusted documents when told to (`milestones.web.trusted_documents`).
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
from starlette.websockets import WebSocket, WebSocketState
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.types import SubscribeMessage
from strawberry.types.graphql import OperationType

from milestones.auth import (
    TokenVerifier,
    Unauthenticated,
    Verified,
    authorization_in_connection_params,
    parse_authorization,
)
from milestones.config import Settings
from milestones.domain.users import user_for
from milestones.live.bus import WakeupBus
from milestones.live.fanout import SharedSubscriptions
from milestones.live.transport import DIRECT_SEND, Expiries, SharedSubscriptionsHandler
from milestones.models import User
from milestones.observability.logs import current_request_id, current_request_log
from milestones.observability.metrics import OPEN_WEBSOCKETS
from milestones.rate_limits import RateLimiter
from milestones.schema.context import Context
from milestones.schema.documents import PARSED_SCOPE_KEY, parsed_in
from milestones.schema.root import MilestonesSchema
from milestones.web import graphql_http, uploads
from milestones.web.guard import log_failure
from milestones.web.request_observer import finish, request_id_header, request_log
from milestones.web.sse import EventStreams
from milestones.web.trusted_documents import DocumentRefused, TrustedDocuments

UNAUTHENTICATED = "UNAUTHENTICATED"
GRAPHIQL_PAGE = Path(__file__).parent / "static" / "graphiql" / "index.html"


class TrustedDocumentsHandler(SharedSubscriptionsHandler):
    """graphql-transport-ws with `subscribe` naming trusted documents (or limited to them)."""

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        payload: object = message["payload"]
        # Who asks, and whether their token still holds, before the payload is looked at.
        if (
            self.connection_acknowledged
            and not self._token_expired()
            and isinstance(payload, dict)
            and isinstance(payload.get("query"), str | None)
        ):
            trusted: TrustedDocuments = self.view.trusted_documents  # type: ignore[attr-defined]
            try:
                query = trusted.resolve(
                    payload.get("query"), payload.get("documentId"), payload.get("extensions")
                )
            except DocumentRefused as refused:
                await self.send_message(
                    {"id": message["id"], "type": "error", "payload": [refused.error.formatted]}
                )
                return
            if query is not None:
                message = {**message, "payload": {**payload, "query": query}}  # type: ignore[typeddict-item]
        await super().handle_subscribe(message)


class _GateRefused(Exception):
    """The document gate refused a multipart request's document (a limit, or its syntax)."""

    def __init__(self, error: GraphQLError) -> None:
        super().__init__(error.message)
        self.error = error


class MilestonesGraphQL(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = TrustedDocumentsHandler

    def __init__(
        self,
        schema: MilestonesSchema,
        settings: Settings,
        bus: WakeupBus,
        verifier: TokenVerifier,
        rate_limiter: RateLimiter | None = None,
        trusted_documents: TrustedDocuments | None = None,
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
        self.expiries = Expiries()
        self.trusted_documents = trusted_documents or TrustedDocuments({}, only=False)
        self.event_streams = EventStreams(self)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        if graphql_http.wants_event_stream(scope):
            await self.event_streams.serve(scope, receive, send)
            return
        request = Request(scope, receive)
        response = await self._serve_http(request)
        await response(scope, receive, send)

    async def serve_websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A socket on /graphql, straight from the app's entry (`app.MilestonesApp`), past the
        middleware, the router and strawberry's `run`: what they do for a socket is done here,
        in this one frame. An idle socket keeps its whole call chain alive: those layers'
        frames and closures cost each idle subscriber about 5 KiB (30.4 -> 25.0 KiB measured).

        From the middleware: the request id (header on the accept, log line, log context), the
        open-socket gauge, a refused handshake (403) when serving fails before the socket is
        accepted (after, the server closes it with 1011), the failure logged once. From
        strawberry: the origin check, the subprotocol, the accept, the context, the handler."""
        log = request_log(scope)
        token = current_request_log.set(log)
        scope[DIRECT_SEND] = send
        websocket = WebSocket(scope, receive, send)
        accepted = False
        try:
            if not self._check_websocket_origin(websocket):
                await self.reject_websocket(websocket)
                return
            subprotocol = await self.pick_websocket_subprotocol(websocket)
            await websocket.accept(subprotocol=subprotocol, headers=[request_id_header(log)])
            accepted = True
            OPEN_WEBSOCKETS.inc()
            if subprotocol != GRAPHQL_TRANSPORT_WS_PROTOCOL:
                await websocket.close(4406, "Subprotocol not acceptable")
                return
            await self.graphql_transport_ws_handler_class(
                view=self,
                websocket=self.websocket_adapter_class(self, websocket, websocket),  # type: ignore[arg-type]
                context=await self.get_context(websocket, response=websocket),
                root_value=None,
                schema=self.schema,
                connection_init_wait_timeout=self.connection_init_wait_timeout,
                max_subscriptions_per_connection=self.max_subscriptions_per_connection,
            ).handle()
        except Exception as error:
            log.outcome = "error"
            log_failure(scope, error)
            if websocket.application_state is not WebSocketState.CONNECTING:
                raise  # accepted or closed: the server closes it
            await send({"type": "websocket.close", "code": 1011, "reason": ""})
        finally:
            if accepted:
                OPEN_WEBSOCKETS.dec()
            finish(log, 101 if accepted else 403)
            current_request_log.reset(token)

    async def _serve_http(self, request: Request) -> Response:
        if graphql_http.wants_graphiql(request) and self.graphql_ide is not None:
            return HTMLResponse(self.graphql_ide_html)
        media_type = graphql_http.negotiate(request.headers.get("accept"))
        if (
            media_type is not None
            and request.method == "POST"
            and uploads.is_multipart(request.headers.get("content-type"))
        ):
            return await self._serve_upload(request, media_type)
        try:
            if media_type is None:
                raise graphql_http.RequestRefused(
                    406, "Accept application/graphql-response+json or application/json."
                )
            params = await graphql_http.read_params(request, self.settings.max_body_bytes)
            query = graphql_http.trusted_query(params, self.trusted_documents)
        except graphql_http.RequestRefused as refused:
            return self._refuse(refused, media_type or graphql_http.JSON)
        sub_response = Response()
        context = await self.get_context(request, sub_response)
        limit = self._gate(request, query, authenticated=context.viewer is not None)
        if limit is not None:  # a limit: answered before strawberry parses anything
            return self._limit_response(limit, media_type, context)
        allowed = {OperationType.QUERY}
        if request.method == "POST":
            allowed.add(OperationType.MUTATION)
        return await self._execute(query, params, allowed, media_type, context, sub_response)

    async def _serve_upload(self, request: Request, media_type: str) -> Response:
        """A GraphQL multipart request (`milestones.web.uploads`): the token first, then the
        CSRF header, then the body, through the same gates as any other request."""
        try:
            try:
                viewer, _ = await self._viewer(request.headers.get("authorization"))
            except Unauthenticated as error:
                raise graphql_http.RequestRefused(
                    401,
                    str(error),
                    {"www-authenticate": 'Bearer realm="milestones"'},
                    code=UNAUTHENTICATED,
                ) from None
            uploads.check_preflight(request.headers)
            limits = uploads.UploadLimits(
                max_body_bytes=self.settings.max_body_bytes,
                max_upload_bytes=self.settings.max_upload_bytes,
            )
            received = await uploads.read(
                request, limits, lambda params: self._admit_upload(request, params)
            )
        except graphql_http.RequestRefused as refused:
            return self._refuse(refused, media_type)
        except _GateRefused as refused:
            return self._limit_response(refused.error, media_type, None)
        try:
            sub_response = Response()
            context = Context(
                settings=self.settings,
                viewer=viewer,
                bus=self.bus,
                request=request,
                response=sub_response,
            )
            return await self._execute(
                received.query,
                received.params,
                {OperationType.MUTATION},
                media_type,
                context,
                sub_response,
            )
        finally:
            received.close()

    def _admit_upload(self, request: Request, params: graphql_http.GraphQLParams) -> str:
        """Between `map` and the first file: the document, through the gates, must be the one
        operation that takes files."""
        query = graphql_http.trusted_query(params, self.trusted_documents)
        limit = self._gate(request, query, authenticated=True)
        if limit is not None:
            raise _GateRefused(limit)
        document = parsed_in(request.scope, query)
        if isinstance(document, GraphQLError):
            raise _GateRefused(document)  # a syntax error: nothing to run
        assert document is not None
        uploads.only_uploading_operation(document, params.operation_name)
        return query

    async def _execute(
        self,
        query: str,
        params: graphql_http.GraphQLParams,
        allowed: set[OperationType],
        media_type: str,
        context: Context,
        sub_response: Response,
    ) -> Response:
        try:
            result = await self.schema.execute(
                query,
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
                GraphQLError(
                    "Subscriptions are served over WebSocket (graphql-transport-ws) and over "
                    "server-sent events (Accept: text/event-stream)."
                )
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

    def _refuse(self, refused: graphql_http.RequestRefused, media_type: str) -> Response:
        return self._respond(
            graphql_http.refusal_body(refused.message, refused.code),
            refused.status,
            media_type,
            None,
            refused.headers,
        )

    def _limit_response(
        self, limit: GraphQLError, media_type: str, context: Context | None
    ) -> Response:
        return self._respond(
            graphql_http.body_of(graphql_http.request_error(limit)),
            graphql_http.status_of(graphql_http.request_error(limit), media_type),
            media_type,
            context,
        )

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
        return await user_for(verified), verified

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
