"""A small graphql-transport-ws client on the `websockets` package, and the documents."""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Final

import uvicorn
from starlette.types import ASGIApp
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from milestones.cli import HTTP_PROTOCOL, WS_PROTOCOL

JSON = dict[str, Any]
PROTOCOL: Final = "graphql-transport-ws"
WAIT_SECONDS: Final = 5.0

NOTIFICATIONS_SUBSCRIPTION: Final = """
subscription ($after: String) {
  notifications(after: $after) {
    id cursor kind message
    contract { id }
    actor { id }
    changeRequest { id }
    refundRequest { id }
    milestone { id }
  }
}
"""

CONTRACT_EVENTS_SUBSCRIPTION: Final = """
subscription ($contractId: ID!, $after: String) {
  contractEvents(contractId: $contractId, after: $after) {
    id cursor kind
    actor { id }
    milestone { id }
  }
}
"""


class GraphQLWS:
    """One WebSocket speaking graphql-transport-ws; methods send and expect protocol messages."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        # Messages of other operations, kept while one operation's are awaited.
        self._inbox: dict[str, deque[JSON]] = defaultdict(deque)

    async def send(self, message: JSON | str) -> None:
        await self.connection.send(message if isinstance(message, str) else json.dumps(message))

    async def receive(self, within: float = WAIT_SECONDS) -> JSON:
        raw = await asyncio.wait_for(self.connection.recv(), within)
        message = json.loads(raw)
        assert isinstance(message, dict), message
        return message

    async def init(self, token: str | None, *, expect_ack: bool = True) -> None:
        payload = {"authorization": f"Bearer {token}"} if token is not None else {}
        await self.send({"type": "connection_init", "payload": payload})
        if expect_ack:
            ack = await self.receive()
            assert ack["type"] == "connection_ack", ack

    async def subscribe(self, operation_id: str, query: str, **variables: Any) -> None:
        await self.send(
            {
                "id": operation_id,
                "type": "subscribe",
                "payload": {"query": query, "variables": variables},
            }
        )

    async def subscribe_notifications(self, operation_id: str, after: str | None = None) -> None:
        await self.subscribe(operation_id, NOTIFICATIONS_SUBSCRIPTION, after=after)

    async def subscribe_events(
        self, operation_id: str, contract_id: str, after: str | None = None
    ) -> None:
        await self.subscribe(
            operation_id, CONTRACT_EVENTS_SUBSCRIPTION, contractId=contract_id, after=after
        )

    async def next_payload(self, operation_id: str, within: float = WAIT_SECONDS) -> JSON:
        """The data of the next `next` message of that operation (skipping pings)."""
        deadline = time.monotonic() + within
        while True:
            if self._inbox[operation_id]:
                message = self._inbox[operation_id].popleft()
            else:
                message = await self.receive(max(deadline - time.monotonic(), 0.01))
            if message["type"] == "ping":
                await self.send({"type": "pong"})
                continue
            if message.get("id") != operation_id:
                self._inbox[str(message.get("id"))].append(message)
                continue
            assert message["type"] == "next", message
            assert "errors" not in message["payload"], message
            data: JSON = message["payload"]["data"]
            return data

    async def take(self, operation_id: str, count: int, within: float = WAIT_SECONDS) -> list[JSON]:
        """The next `count` payloads' single root field."""
        items = []
        for _ in range(count):
            data = await self.next_payload(operation_id, within)
            (item,) = data.values()
            items.append(item)
        return items

    async def expect_silence(self, seconds: float = 0.3) -> None:
        waiting = [message for inbox in self._inbox.values() for message in inbox]
        assert not waiting, f"expected nothing, got {waiting}"
        try:
            message = await self.receive(seconds)
        except TimeoutError:
            return
        raise AssertionError(f"expected nothing, got {message}")

    async def closed_with(self, within: float = WAIT_SECONDS) -> int | None:
        """Wait for the server to close the socket; its close code."""
        try:
            while True:
                await asyncio.wait_for(self.connection.recv(), within)
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd is not None else None


@asynccontextmanager
async def graphql_ws(url: str) -> AsyncIterator[GraphQLWS]:
    async with connect(
        url,
        subprotocols=[Subprotocol(PROTOCOL)],
        open_timeout=WAIT_SECONDS,
        close_timeout=1,
    ) as connection:
        yield GraphQLWS(connection)


@asynccontextmanager
async def subscribed_client(url: str, token: str | None) -> AsyncIterator[GraphQLWS]:
    async with graphql_ws(url) as ws:
        await ws.init(token)
        yield ws


@asynccontextmanager
async def served_url(app: ASGIApp) -> AsyncIterator[str]:
    """http://… of a uvicorn server on a free loopback port, serving `app` in the test's own
    loop the way `milestones serve` does (its lifespan is the `app` fixture's business)."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        lifespan="off",
        http=HTTP_PROTOCOL,  # as `milestones serve`
        ws=WS_PROTOCOL,
        ws_per_message_deflate=False,
        log_level="warning",
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


@asynccontextmanager
async def served_ws_url(app: ASGIApp) -> AsyncIterator[str]:
    """ws://…/graphql of `served_url`."""
    async with served_url(app) as url:
        yield url.replace("http://", "ws://", 1) + "/graphql"
