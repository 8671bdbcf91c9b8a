"""GraphQL over server-sent events: the graphql-sse protocol, distinct connections mode.

A request to /graphql with `Accept: text/event-stream` (GET or POST with the parameters of
GraphQL over HTTP, the bearer token in `Authorization`) is answered by one event stream:
`next` events, then `complete`. A missing or bad token is refused (401, UNAUTHENTICATED)
before anything of the request is read; every later refusal (body, document, trusted
documents, variables) is a `next` carrying the errors, as the protocol says: an EventSource
cannot read the body of a 400.

Subscriptions join the same shared groups as WebSockets (`fanout.py`): one execution and one
encoding per event, document and viewer. Each `next` of `notifications` and `contractEvents`
carries the item's cursor as its SSE `id`; a request with `Last-Event-ID` resumes after it
(it wins over `after`), so a client that reconnects (an EventSource does so by itself) misses
nothing and sees nothing twice.

A reader that falls behind by more than SSE_MAX_QUEUED_BYTES is dropped instead of buffered:
it reconnects with its Last-Event-ID and reads the rest from the database. A stream also ends
when its token expires and after SSE_MAX_SECONDS; comments keep idle proxies from closing it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

import orjson
from graphql import GraphQLError
from graphql.error import GraphQLSyntaxError
from starlette.requests import Request as HTTPRequest
from starlette.types import Receive, Scope, Send
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.graphql import OperationType

from milestones import ids
from milestones.auth import Unauthenticated, parse_authorization
from milestones.domain.users import user_for
from milestones.live import eager
from milestones.live.fanout import CURSOR_KINDS, Member, Request, subscription_field
from milestones.live.transport import DIRECT_SEND
from milestones.observability.metrics import OPEN_EVENT_STREAMS
from milestones.rate_limits import Budget
from milestones.schema.context import Context
from milestones.schema.documents import PARSED_SCOPE_KEY
from milestones.schema.rate_limiting import caller, rate_limited_error
from milestones.web import graphql_http
from milestones.web.http_protocol import write_chunk

if TYPE_CHECKING:
    from milestones.web.graphql_view import MilestonesGraphQL

# The subscriptions whose items have a cursor, and the cursor's kind.
KEEP_ALIVE = b": keep-alive\n\n"
logger = logging.getLogger(__name__)
COMPLETE = b"event: complete\ndata: \n\n"
# How long the end of a stream may wait for a slow reader before the connection is cut.
CLOSING_GRACE_SECONDS = 5.0


def _event(name: str, data: object) -> bytes:
    # orjson never writes a newline, so the data is one `data:` line.
    return f"event: {name}\ndata: ".encode() + orjson.dumps(data) + b"\n\n"


class EventStream:
    """The body of one SSE response. Chunks leave in order: at once while the socket keeps
    up, from a queue of at most `max_queued_bytes` while a send waits; a chunk that does not
    fit ends the stream (`dropped`), since the reader resumes from the database anyway."""

    def __init__(self, send: Send, max_queued_bytes: int, direct: object = None) -> None:
        self._send = send
        # The server's own send (`http_protocol.write_chunk`): a chunk straight to the socket
        # while it keeps up.
        self._direct = direct
        self.max_queued_bytes = max_queued_bytes
        self.queued: deque[bytes] | None = None
        self.queued_bytes = 0
        self.flusher: asyncio.Future[None] | None = None
        self.ended = asyncio.Event()
        self.dropped = False
        self.broken = False
        self.last_write = time.monotonic()

    def _body(self, chunk: bytes, more: bool = True) -> Coroutine[Any, Any, None]:
        coroutine = self._send({"type": "http.response.body", "body": chunk, "more_body": more})
        return coroutine  # type: ignore[return-value]  # Starlette's Send is an async def

    def push(self, chunk: bytes) -> bool:
        """False when the stream has ended (now or before): `chunk` was not queued."""
        if self.ended.is_set():
            return False
        self.last_write = time.monotonic()
        if self.queued is not None:
            if self.queued_bytes + len(chunk) > self.max_queued_bytes:
                self.dropped = True
                self.queued.clear()  # whole events only: the reader loses none of them
                self.queued_bytes = 0
                self.ended.set()
                return False
            self.queued.append(chunk)
            self.queued_bytes += len(chunk)
            return True
        try:
            if self._direct is not None and write_chunk(self._direct, chunk):
                return True
            pending = eager.start(self._body(chunk))
        except Exception:  # the connection went away
            self._broke()
            return False
        if pending is not None:
            self.queued = deque()
            self.queued_bytes = 0
            self.flusher = asyncio.ensure_future(self._flush(pending))
        return True

    async def _flush(self, pending: asyncio.Future[None]) -> None:
        try:
            await pending
            while self.queued:
                chunk = self.queued.popleft()
                self.queued_bytes -= len(chunk)
                await self._body(chunk)
        except asyncio.CancelledError:
            raise
        except Exception:
            self._broke()
        finally:
            self.queued = None
            self.queued_bytes = 0

    def _broke(self) -> None:
        self.broken = True
        self.ended.set()

    def end(self) -> None:
        self.ended.set()

    async def close(self) -> None:
        """End the response: what is queued leaves first, unless the reader is gone or stuck."""
        self.ended.set()
        try:
            async with asyncio.timeout(CLOSING_GRACE_SECONDS):
                if self.flusher is not None:
                    await self.flusher
                if not self.broken:
                    await self._body(b"", more=False)
        except TimeoutError:  # the server cuts the connection (its log says so, once)
            pass
        except Exception:
            self.broken = True
        finally:
            if self.flusher is not None and not self.flusher.done():
                self.flusher.cancel()
                with contextlib.suppress(BaseException):
                    await self.flusher


class _LastEvent:
    """The bytes of the event just framed: a group hands every member the same result
    object, so each event is framed and encoded once, not once per stream."""

    __slots__ = ("chunk", "kind", "position", "result")

    def __init__(self) -> None:
        self.result: str | None = None
        self.kind: str | None = None
        self.position: int | None = None
        self.chunk = b""

    def frame(self, result: str, kind: str | None, position: int | None) -> bytes:
        if result is not self.result or kind != self.kind or position != self.position:
            self.chunk = _next_event(result, kind, position)
            # Held until the next event: its identity cannot be reused meanwhile.
            self.result, self.kind, self.position = result, kind, position
        return self.chunk


def _next_event(result: str, kind: str | None, position: int | None) -> bytes:
    event_id = (
        ids.encode_cursor(kind, position) if kind is not None and position is not None else None
    )
    return b"event: next\ndata: " + result.encode() + _id_line(event_id)


def _id_line(event_id: str | None) -> bytes:
    return f"\nid: {event_id}\n\n".encode() if event_id is not None else b"\n\n"


_last_event = _LastEvent()


class Subscriber:
    """The sink of one SSE subscription (`fanout.Sink`)."""

    def __init__(self, stream: EventStream, cursor_kind: str | None) -> None:
        self.stream = stream
        self.cursor_kind = cursor_kind

    def deliver(self, member: Member, frame: str, position: int | None) -> None:
        # The member's prefix and suffix are empty: `frame` is the group's one encoding.
        self._push(member, _last_event.frame(frame, self.cursor_kind, position))

    def deliver_many(self, member: Member, frames: list[tuple[str, int | None]]) -> None:
        # One body chunk for all of them (a catch-up): the events in order, one write.
        self._push(member, b"".join(_next_event(f, self.cursor_kind, at) for f, at in frames))

    def _push(self, member: Member, chunk: bytes) -> None:
        if not self.stream.push(chunk) and member.group is not None:
            member.group.remove(member)

    def operation_ended(self, member: Member, frame: str) -> None:
        message = orjson.loads(frame)
        if message.get("type") == "error":
            self.stream.push(_event("next", {"errors": message.get("payload") or []}))
        self.stream.push(COMPLETE)
        self.stream.end()


class EventStreams:
    """GraphQL over SSE for the GraphQL view (its schema, settings, groups and documents)."""

    def __init__(self, view: MilestonesGraphQL) -> None:
        self.view = view
        self.open_by_viewer: dict[int, int] = {}

    async def serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        settings = self.view.settings
        request = HTTPRequest(scope, receive)
        try:
            # The app's one verifier: expiry, and no token without `exp` in production.
            verified = self.view.verifier.verify(
                parse_authorization(request.headers.get("authorization"))
            )
        except Unauthenticated as error:
            await _refuse(send, 401, str(error), "UNAUTHENTICATED", www_authenticate=True)
            return
        ends_at = time.time() + settings.sse_max_seconds
        if verified.expires_at is not None:  # the stream ends with its token
            ends_at = min(ends_at, verified.expires_at)
        viewer = await user_for(verified)
        if self.open_by_viewer.get(viewer.id, 0) >= settings.max_event_streams_per_user:
            limit = settings.max_event_streams_per_user
            await _refuse(
                send, 429, f"At most {limit} event streams per user.", "TOO_MANY_SUBSCRIPTIONS"
            )
            return
        self.open_by_viewer[viewer.id] = self.open_by_viewer.get(viewer.id, 0) + 1
        stream = EventStream(send, settings.sse_max_queued_bytes, scope.get(DIRECT_SEND))
        member: Member | None = None
        OPEN_EVENT_STREAMS.inc()
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", b"text/event-stream; charset=utf-8"),
                        (b"cache-control", b"no-cache, no-transform"),
                        (b"x-accel-buffering", b"no"),
                    ],
                }
            )
            context = Context(settings=settings, viewer=viewer, bus=self.view.bus, request=request)
            try:
                member = await self._start(request, context, stream)
            except Exception:
                # After the headers, a failure is the stream's last `next`, then `complete`:
                # never a connection cut mid-body (an EventSource would retry it forever).
                logger.exception("an event stream failed before its first event")
                failed = GraphQLError(
                    "Internal server error.", extensions={"code": "INTERNAL_SERVER_ERROR"}
                )
                self._finish(stream, {"errors": [failed.formatted]})
                return
            watcher = asyncio.create_task(_watch_disconnect(receive, stream))
            try:
                await _keep_alive(stream, settings.sse_keepalive_seconds, ends_at)
            finally:
                watcher.cancel()
        finally:
            if member is not None and member.group is not None:
                member.group.remove(member)
            OPEN_EVENT_STREAMS.dec()
            remaining = self.open_by_viewer[viewer.id] - 1
            if remaining:
                self.open_by_viewer[viewer.id] = remaining
            else:
                del self.open_by_viewer[viewer.id]
            await stream.close()

    async def _start(
        self, request: HTTPRequest, context: Context, stream: EventStream
    ) -> Member | None:
        """Run a query or mutation to its end, or join a subscription (its member)."""
        try:
            params = await graphql_http.read_params(request, self.view.settings.max_body_bytes)
            query = graphql_http.trusted_query(params, self.view.trusted_documents)
        except graphql_http.RequestRefused as refused:
            error = GraphQLError(refused.message, extensions={"code": refused.code})
            self._finish(stream, {"errors": [error.formatted]})
            return None
        try:
            # The one gate (token limit, bounded cache): its refusal is the stream's `next`
            # with the limit's code; the parsed document is left for the schema in the scope.
            document = self.view.documents.parse(query, cache=True)
        except GraphQLError as refused:
            request.scope[PARSED_SCOPE_KEY] = (query, refused)
            if isinstance(refused, GraphQLSyntaxError):  # strawberry answers it as on HTTP
                self._finish(stream, await self._execute(request, context, query, params))
            else:
                self._finish(stream, {"errors": [refused.formatted]})
            return None
        request.scope[PARSED_SCOPE_KEY] = (query, document)
        field = subscription_field(document, params.operation_name)
        if field is None:
            self._finish(stream, await self._execute(request, context, query, params))
            return None
        rate_limiter = self.view.rate_limiter
        if rate_limiter is not None and rate_limiter.enabled:
            # A new subscription costs one from the caller's budget, as over WebSocket.
            refusal = await rate_limiter.admit(caller(context), ((Budget.SUBSCRIPTIONS, 1),))
            if refusal is not None:
                self._finish(stream, {"errors": [rate_limited_error(refusal).formatted]})
                return None
        cursor_kind = CURSOR_KINDS.get(field)
        resume_after: int | None = None
        last_event_id = request.headers.get("last-event-id", "").strip()
        if last_event_id and cursor_kind is not None:
            resume_after = ids.decode_cursor(last_event_id, cursor_kind)
            if resume_after is None:
                error = GraphQLError(
                    "Last-Event-ID is not a cursor of this subscription.",
                    extensions={"code": "VALIDATION"},
                )
                self._finish(stream, {"errors": [error.formatted]})
                return None
        member = Member(
            Subscriber(stream, cursor_kind),
            "sse",
            field,
            Request(query, params.variables, params.operation_name),
        )
        member.prefix = member.suffix = ""  # `Subscriber` frames the group's encoding
        # From where the reader left off (Last-Event-ID), else from its `after`, else from now.
        self.view.shared_subscriptions.subscribe(member, context, document, resume_after)
        return member

    async def _execute(
        self,
        request: HTTPRequest,
        context: Context,
        query: str,
        params: graphql_http.GraphQLParams,
    ) -> dict[str, Any]:
        allowed = {OperationType.QUERY}
        if request.method == "POST":
            allowed.add(OperationType.MUTATION)
        try:
            result = await self.view.schema.execute(
                query,
                variable_values=params.variables,
                context_value=context,
                operation_name=params.operation_name,
                allowed_operation_types=allowed,
                operation_extensions=params.extensions,
            )
        except InvalidOperationTypeError:
            result = graphql_http.request_error(GraphQLError("Mutations need POST."))
        except CannotGetOperationTypeError as error:
            result = graphql_http.request_error(GraphQLError(error.as_http_error_reason()))
        return graphql_http.body_of(result)

    @staticmethod
    def _finish(stream: EventStream, body: dict[str, Any]) -> None:
        stream.push(_event("next", body))
        stream.push(COMPLETE)
        stream.end()


async def _keep_alive(stream: EventStream, interval: float, ends_at: float) -> None:
    """Until the stream ends: a comment after each quiet `interval`, the end at `ends_at`."""
    while not stream.ended.is_set():
        timeout = min(interval, ends_at - time.time())
        if timeout <= 0:
            return  # no `complete`: the client reconnects, with a fresh token if it expired
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stream.ended.wait(), timeout)
        if time.monotonic() - stream.last_write >= interval:
            stream.push(KEEP_ALIVE)


async def _watch_disconnect(receive: Receive, stream: EventStream) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    stream.broken = True
    stream.end()


async def _refuse(
    send: Send, status: int, message: str, code: str, *, www_authenticate: bool = False
) -> None:
    body = orjson.dumps({"errors": [{"message": message, "extensions": {"code": code}}]})
    headers = [
        (b"content-type", graphql_http.JSON.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
    ]
    if www_authenticate:
        headers.append((b"www-authenticate", b'Bearer realm="milestones"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
