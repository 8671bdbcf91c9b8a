"""graphql-transport-ws, as strawberry speaks it, with subscriptions served by shared groups
(`fanout.py`) instead of a task and a GraphQL stream per operation.

Everything but `subscribe` for a subscription is strawberry's handler unchanged: the
connection_init timeout and the close codes, ping/pong, queries and mutations over the socket,
and documents that do not parse (strawberry answers them as before). Every frame to the socket,
strawberry's own included, goes through one `Outbox`, so they leave in the order they were
made.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

from graphql import GraphQLError
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
from milestones.schema.context import Context


class SharedSubscriptionsHandler(BaseGraphQLTransportWSHandler[Context, None]):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.shared: SharedSubscriptions = self.view.shared_subscriptions  # type: ignore[attr-defined]
        self.outbox = Outbox(self._send_frame, self._drained)

    def _send_frame(self, frame: str) -> Coroutine[Any, Any, None]:
        socket = self.websocket.ws  # type: ignore[attr-defined]
        coroutine: Coroutine[Any, Any, None] = socket.send(
            {"type": "websocket.send", "text": frame}
        )
        return coroutine

    # --- strawberry's handler, routed through the outbox ---------------------------------

    async def send_message(self, message: Message) -> None:
        self.outbox.push(self.view.encode_json(message), None, None)  # type: ignore[arg-type]

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        await super().handle_connection_init(message)
        if self.connection_acknowledged:
            # An idle socket keeps nothing it no longer needs: the token was checked, and the
            # timeout task was cancelled by the init.
            self.context.connection_params = None
            self.connection_init_timeout_task = None

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        payload = message["payload"]
        if not isinstance(payload, dict):
            await self.handle_invalid_message("Failed to parse message")
            return
        query, variables = payload["query"], payload.get("variables")
        operation_name = payload.get("operationName")
        field = (
            subscription_field(query, operation_name)
            if isinstance(query, str)
            and isinstance(variables, dict | None)
            and isinstance(operation_name, str | None)
            else None
        )
        if field is None:  # not a subscription: strawberry's own path
            await super().handle_subscribe(message)
            return
        if not self.connection_acknowledged:
            await self.websocket.close(code=4401, reason="Unauthorized")
            return
        operation_id = message["id"]
        if operation_id in self.operations:
            reason = f"Subscriber for {operation_id} already exists"
            await self.websocket.close(code=4409, reason=reason)
            return
        limit = self.max_subscriptions_per_connection
        if limit is not None and len(self.operations) >= limit:
            error = GraphQLError("Subscription limit reached")
            await self.send_message(
                {"id": operation_id, "type": "error", "payload": [error.formatted]}
            )
            return
        member = Member(self, operation_id, field, Request(query, variables, operation_name))
        self.operations[operation_id] = member  # type: ignore[assignment]
        self.shared.join(member, self.context)

    async def cleanup_operation(self, operation_id: str) -> None:
        operation = self.operations.get(operation_id)
        if not isinstance(operation, Member):
            await super().cleanup_operation(operation_id)
            return
        del self.operations[operation_id]
        if operation.group is not None:
            operation.group.remove(operation)

    async def shutdown(self) -> None:
        await super().shutdown()
        await self.outbox.close()

    # --- what the groups call ----------------------------------------------------------

    def deliver(self, member: Member, frame: str, position: int | None) -> None:
        if self.outbox.push(frame, member, position):
            return
        # Too far behind to queue more: leave the group, read the rest from the database once
        # the socket has taken what it has.
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
