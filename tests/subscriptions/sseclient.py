"""A small GraphQL-over-SSE client for tests: events parsed as the EventSource spec says."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson

STREAM_TIMEOUT = httpx.Timeout(10.0, read=None)


@dataclasses.dataclass(frozen=True, slots=True)
class ServerSentEvent:
    event: str
    data: str
    id: str | None

    def json(self) -> Any:
        return orjson.loads(self.data)


class EventStreamReader:
    """Events of one response, in order; comments are counted, not returned."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.comments = 0
        self._lines = response.aiter_lines()

    async def next(self, within: float = 10.0) -> ServerSentEvent | None:
        """The next event, or None when the response ended."""
        return await asyncio.wait_for(self._next(), within)

    async def _next(self) -> ServerSentEvent | None:
        event, data, event_id = "message", [], None
        async for line in self._lines:
            if not line:
                if data:
                    return ServerSentEvent(event, "\n".join(data), event_id)
                event, event_id = "message", None
                continue
            if line.startswith(":"):
                self.comments += 1
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)
            elif name == "id":
                event_id = value
        return None

    async def results(self, count: int, within: float = 10.0) -> list[ServerSentEvent]:
        """`count` `next` events (failing on anything else)."""
        events = []
        for _ in range(count):
            event = await self.next(within)
            assert event is not None, "the stream ended early"
            assert event.event == "next", event
            events.append(event)
        return events

    async def expect_silence(self, seconds: float) -> None:
        try:
            event = await self.next(seconds)
        except TimeoutError:
            return
        raise AssertionError(f"expected nothing, got {event}")


@asynccontextmanager
async def event_stream(
    base_url: str,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    token: str | None,
    last_event_id: str | None = None,
    method: str = "POST",
    extra: dict[str, Any] | None = None,
) -> AsyncIterator[EventStreamReader]:
    headers = {"accept": "text/event-stream"}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    if last_event_id is not None:
        headers["last-event-id"] = last_event_id
    body: dict[str, Any] = {"query": query, **(extra or {})}
    if variables is not None:
        body["variables"] = variables
    async with httpx.AsyncClient(base_url=base_url, timeout=STREAM_TIMEOUT) as http:
        if method == "GET":
            params = {
                key: value if isinstance(value, str) else orjson.dumps(value).decode()
                for key, value in body.items()
            }
            request = http.build_request("GET", "/graphql", params=params, headers=headers)
        else:
            request = http.build_request("POST", "/graphql", json=body, headers=headers)
        response = await http.send(request, stream=True)
        try:
            yield EventStreamReader(response)
        finally:
            await response.aclose()
