"""graphql-transport-ws, as strawberry speaks it, with subscriptions served by shared groups
(`fanout.py`) instead of a task and a GraphQL stream per operation.

What this handler adds to strawberry's, for a socket open to anyone:

- Nothing is parsed, cached or started before `connection_init` is accepted: a `subscribe`
  before it closes the socket with 4401, unread. (Frames are bounded by the server's
  `ws_max_size`, the request body limit.)
- Every document passes the one gate (`Documents.parse`: token limit, then a cache bounded by
  bytes); a refusal is the operation's `error` message with the limit's code, as is one
  operation too many (`TOO_MANY_SUBSCRIPTIONS`).
- The socket lives as long as its token: at `exp` it is closed with 4403, and an operation
  that arrives after `exp` is never run.
- Every frame to the socket, strawberry's own included, goes through one `Outbox` (in order,
  within one byte budget; past it the socket is closed with 4429).

Everything else is strawberry's handler unchanged: the connection_init timeout and close
codes, ping/pong, queries and mutations over the socket, documents that do not parse.

Rate limits: a new subscription costs one from the caller's `subscriptions` budget (queries
and mutations over the socket are metered in execution, `schema/rate_limiting.py`); a refusal
is an `error` message with `RATE_LIMITED`, and a socket that keeps going after
`RATE_LIMIT_SOCKET_REFUSALS` refusals in a row is closed with 4429.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Coroutine
from typing import Any

from graphql import GraphQLError
from graphql.error import GraphQLSyntaxError
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    Message,
    SubscribeMessage,
)

from milestones.live.fanout import (
    Member,
    Outbox,
    Request,
    SharedSubscriptions,
    subscription_field,
)
from milestones.observability.metrics import WEBSOCKETS_CLOSED
from milestones.rate_limits import RATE_LIMITED, Budget, RateLimiter
from milestones.schema.context import Context
from milestones.schema.limits import subscription_limit_error
from milestones.schema.rate_limiting import caller, rate_limited_error

logger = logging.getLogger(__name__)

# A WebSocket's scope carries the server's own `send` (`MilestonesGraphQL.serve_websocket`):
# the frames of a socket's subscriptions go straight to it, past Starlette's WebSocket and its
# state checks (a fan-out to 10,000 sockets is 10,000 sends).
DIRECT_SEND = "milestones.direct_send"
TOKEN_EXPIRED = (4403, "Token expired")
UNAVAILABLE = (1011, "Service unavailable: try again shortly")
BACKLOG_FULL = (4429, "Too many unread messages: reconnect and resume from your last cursor")


class SharedSubscriptionsHandler(BaseGraphQLTransportWSHandler[Context, None]):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.shared: SharedSubscriptions = self.view.shared_subscriptions  # type: ignore[attr-defined]
        settings = self.view.settings  # type: ignore[attr-defined]
        self.outbox = Outbox(
            self._send_frame,
            self._drained,
            max_bytes=settings.websocket_backlog_bytes,
            on_overflow=self._overflowed,
            send_many=self._write_frames,
        )
        # When its token expires, in whole seconds (`Expiries`).
        self.expires_second: int | None = None
        self.closing: asyncio.Task[None] | None = None
        self.rate_limiter: RateLimiter | None = self.view.rate_limiter  # type: ignore[attr-defined]
        self.refusals_in_a_row = 0

    def _send_frame(self, frame: str) -> Coroutine[Any, Any, None]:
        socket = self.websocket.ws  # type: ignore[attr-defined]
        # Once accepted, a frame changes nothing the layers between watch: it goes straight out.
        send = socket.scope.get(DIRECT_SEND) or socket.send
        coroutine: Coroutine[Any, Any, None] = send({"type": "websocket.send", "text": frame})
        return coroutine

    def _write_frames(self, frames: list[str]) -> bool:
        socket = self.websocket.ws  # type: ignore[attr-defined]
        return write_text_frames(socket.scope.get(DIRECT_SEND), frames)

    def _close_soon(self, code: int, reason: str) -> None:
        """Close without waiting for the socket to take what is queued (it may never)."""
        if self.closing is None:
            self.closing = asyncio.ensure_future(self._close(code, reason))

    async def _close(self, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):
            await self.websocket.close(code=code, reason=reason)

    # --- strawberry's handler, routed through the outbox ---------------------------------

    async def send_message(self, message: Message) -> None:
        if message["type"] == "error" and _rate_limited(message):
            self.refusals_in_a_row += 1
            if self.refusals_in_a_row > self.view.settings.rate_limit_socket_refusals:  # type: ignore[attr-defined]
                await self.websocket.close(code=4429, reason="Rate limit: too many refusals")
                return
        elif message["type"] == "next":
            self.refusals_in_a_row = 0
        self.outbox.push(self.view.encode_json(message), None, None)  # type: ignore[arg-type]

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        try:
            await super().handle_connection_init(message)
        except Exception:
            # Identifying the caller failed on our side (the database): a close the client
            # retries (1011), not 4403, which would tell it its token is bad.
            logger.exception("connection_init failed")
            await self._close(*UNAVAILABLE)
            return
        if self.connection_acknowledged:
            # An idle socket keeps nothing it no longer needs: the token was checked, and the
            # timeout task was cancelled by the init.
            self.context.connection_params = None
            self.connection_init_timeout_task = None
            expires_at = self.context.token_expires_at
            if expires_at is not None:
                self.expires_second = self.view.expiries.add(self, expires_at)  # type: ignore[attr-defined]

    def expire_now(self) -> None:
        WEBSOCKETS_CLOSED.labels(reason="token_expired").inc()
        self._close_soon(*TOKEN_EXPIRED)

    async def _expired(self) -> None:
        WEBSOCKETS_CLOSED.labels(reason="token_expired").inc()
        await self._close(*TOKEN_EXPIRED)

    def _token_expired(self) -> bool:
        expires_at = self.context.token_expires_at
        return expires_at is not None and expires_at <= time.time()

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        # Before anything of the message is looked at: who is asking.
        if not self.connection_acknowledged:
            await self.websocket.close(code=4401, reason="Unauthorized")
            return
        if self._token_expired():
            await self._expired()
            return
        payload = message["payload"]
        if not isinstance(payload, dict):
            await self.handle_invalid_message("Failed to parse message")
            return
        operation_id = message["id"]
        if operation_id in self.operations:
            reason = f"Subscriber for {operation_id} already exists"
            await self.websocket.close(code=4409, reason=reason)
            return
        limit = self.max_subscriptions_per_connection
        if limit is not None and len(self.operations) >= limit:
            await self._refuse(operation_id, subscription_limit_error(limit))
            return
        query, variables = payload["query"], payload.get("variables")
        operation_name = payload.get("operationName")
        if not (
            isinstance(query, str)
            and isinstance(variables, dict | None)
            and isinstance(operation_name, str | None)
        ):
            await super().handle_subscribe(message)  # strawberry answers malformed payloads
            return
        try:
            document = self.view.documents.parse(query, cache=True)  # type: ignore[attr-defined]
        except GraphQLSyntaxError:
            await super().handle_subscribe(message)  # closes with 4400, as the protocol says
            return
        except GraphQLError as refused:  # a limit: the operation's error, with its code
            await self._refuse(operation_id, refused)
            return
        field = subscription_field(document, operation_name)
        if field is None:  # not a subscription: strawberry's own path (the parse is cached)
            await super().handle_subscribe(message)
            return
        if self.rate_limiter is not None:
            refusal = await self.rate_limiter.admit(
                caller(self.context), ((Budget.SUBSCRIPTIONS, 1),)
            )
            if refusal is not None:
                await self.send_message(
                    {
                        "id": operation_id,
                        "type": "error",
                        "payload": [rate_limited_error(refusal).formatted],
                    }
                )
                return
            self.refusals_in_a_row = 0
        member = Member(self, operation_id, field, Request(query, variables, operation_name))
        self.operations[operation_id] = member  # type: ignore[assignment]
        self.shared.subscribe(member, self.context, document)

    async def _refuse(self, operation_id: str, error: GraphQLError) -> None:
        await self.send_message({"id": operation_id, "type": "error", "payload": [error.formatted]})

    async def cleanup_operation(self, operation_id: str) -> None:
        operation = self.operations.get(operation_id)
        if not isinstance(operation, Member):
            await super().cleanup_operation(operation_id)
            return
        del self.operations[operation_id]
        if operation.group is not None:
            operation.group.remove(operation)

    async def handle_message(self, message: Message) -> None:
        try:
            await super().handle_message(message)
        finally:
            # strawberry's receive loop holds the last message until the next one comes: an
            # idle socket keeps nothing of it (what an operation needs, it has taken).
            received: object = message
            if isinstance(received, dict):
                received.clear()

    async def shutdown(self) -> None:
        if self.expires_second is not None:
            self.view.expiries.remove(self, self.expires_second)  # type: ignore[attr-defined]
        await super().shutdown()
        await self.outbox.close()

    # --- what the groups call ----------------------------------------------------------

    def deliver(self, member: Member, frame: str, position: int | None) -> None:
        if self._token_expired():  # the timer closes the socket; nothing more goes out
            return
        if not self.outbox.push(frame, member, position):
            self._fell_behind(member)

    def deliver_many(self, member: Member, frames: list[tuple[str, int | None]]) -> None:
        if self._token_expired():
            return
        if not self.outbox.push_many(frames, member):
            self._fell_behind(member)

    @staticmethod
    def _fell_behind(member: Member) -> None:
        """Too far behind to queue more: leave the group, read the rest from the database once
        the socket has taken what it has."""
        if member.group is not None:
            member.group.remove(member)
        member.behind = True

    def operation_ended(self, member: Member, frame: str) -> None:
        if self.operations.get(member.id) is member:  # type: ignore[comparison-overlap]
            del self.operations[member.id]
        self.outbox.push(frame, None, None)

    def _drained(self) -> None:
        for operation in list(self.operations.values()):
            if isinstance(operation, Member) and operation.behind:
                operation.behind = False
                self.shared.resume(operation, self.context)

    def _overflowed(self) -> None:
        WEBSOCKETS_CLOSED.labels(reason="backlog").inc()
        self._close_soon(*BACKLOG_FULL)


class Expiries:
    """The sockets to close when their tokens expire, by the whole second: one timer for the
    process, not one per socket (a timer handle with its context copy is about 0.5 KiB). A
    socket is closed within a second after `exp`; nothing is served to it from `exp` on (the
    handler checks the token before each operation and each frame)."""

    def __init__(self) -> None:
        self.due: dict[int, dict[SharedSubscriptionsHandler, None]] = {}
        self.timer: asyncio.TimerHandle | None = None
        self.timer_second: int | None = None

    def add(self, handler: SharedSubscriptionsHandler, expires_at: float) -> int:
        second = math.ceil(expires_at)
        self.due.setdefault(second, {})[handler] = None
        if self.timer_second is None or second < self.timer_second:
            self._arm(second)
        return second

    def remove(self, handler: SharedSubscriptionsHandler, second: int) -> None:
        handlers = self.due.get(second)
        if handlers is not None:
            handlers.pop(handler, None)
            if not handlers:
                del self.due[second]

    def _arm(self, second: int) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer_second = second
        delay = max(second - time.time(), 0.0)
        self.timer = asyncio.get_running_loop().call_later(delay, self._fire)

    def _fire(self) -> None:
        self.timer = self.timer_second = None
        now = time.time()
        for second in sorted(second for second in self.due if second <= now):
            for handler in self.due.pop(second):
                handler.expires_second = None
                handler.expire_now()
        if self.due:
            self._arm(min(self.due))


def write_text_frames(send: object, frames: list[str]) -> bool:
    """`frames` as text frames in one write to the socket, where the server's WebSocket
    protocol can: `milestones serve`'s (`web/ws_protocol.LeanWebSocketProtocol`, the instance
    behind the ASGI `send`) has `send_text_frames`; uvicorn's own `send` writes each frame on
    its own, a system call each. False, and nothing written, under another protocol or when
    the socket is not plainly open: the frames then go one ASGI `send` each, as any other.
    `tests/subscriptions/test_catch_up_writes.py` checks that the server the tests run on takes
    this path."""
    send_text_frames = getattr(getattr(send, "__self__", None), "send_text_frames", None)
    return bool(send_text_frames(frames)) if send_text_frames is not None else False


def _rate_limited(message: Message) -> bool:
    payload = message.get("payload")
    return isinstance(payload, list) and any(
        isinstance(error, dict) and (error.get("extensions") or {}).get("code") == RATE_LIMITED
        for error in payload
    )
