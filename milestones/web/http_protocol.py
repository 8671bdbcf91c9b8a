"""uvicorn's HTTP protocol (httptools), with each response leaving in one write.

uvicorn writes a response's status line and headers when the app sends `http.response.start`,
and its body when the app sends `http.response.body`: two `send` system calls and two TCP
segments for every request, so the client wakes for the headers and again for the body. Here
what one step of the event loop writes to a connection is joined and written once, at the end
of that step (`loop.call_soon`): a response the app sends in one go (every GraphQL answer)
leaves in one write. A stream (server-sent events) is written as before, one write per step
that sends something. Order is kept (one buffer per connection, flushed in order), and so is
flow control: the bytes reach the real transport before the loop does anything else, and its
pause/resume callbacks go to the protocol as before.

A WebSocket upgrade hands the real transport to the WebSocket protocol: frames are written as
uvicorn writes them (`live.transport` batches a catch-up itself).

A server-sent event's chunk may go straight to the socket (`write_chunk`): a fan-out sends the
same event to thousands of streams, and uvicorn's ASGI `send` (a coroutine, behind the
middleware's own `send` wrappers) cost each of them more than the write itself.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle


class _JoinedWrites:
    """A transport whose writes within one loop step leave as one (see the module)."""

    __slots__ = ("_loop", "_pending", "transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self.transport = transport
        self._loop = loop
        self._pending: list[bytes] | None = None

    def write(self, data: bytes) -> None:
        if self._pending is None:
            self._pending = [data]
            self._loop.call_soon(self.flush)
        else:
            self._pending.append(data)

    def flush(self) -> None:
        pending, self._pending = self._pending, None
        if pending and not self.transport.is_closing():
            self.transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def write_now(self, data: bytes) -> None:
        """`data` to the socket at once, after whatever this step wrote before it."""
        self.flush()
        self.transport.write(data)

    def close(self) -> None:
        self.flush()
        self.transport.close()

    def abort(self) -> None:
        self._pending = None
        self.transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


class JoinedWritesProtocol(HttpToolsProtocol):
    """`milestones serve`'s HTTP protocol (uvicorn's `http=`): httptools, joined writes."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_JoinedWrites(transport, self.loop))  # type: ignore[arg-type]

    def handle_websocket_upgrade(self) -> None:
        joined = self.transport
        if isinstance(joined, _JoinedWrites):
            joined.flush()
            self.transport = joined.transport
        super().handle_websocket_upgrade()


def write_chunk(send: object, chunk: bytes) -> bool:
    """A body chunk of a streamed (chunked) response, written straight to the socket, as
    uvicorn's `send` would frame it. `send`: the server's own ASGI `send` for the request (a
    `RequestResponseCycle`'s, under `JoinedWritesProtocol`). False, and nothing written,
    where that is not plain: another server, the response not started, complete or not
    chunked, the client gone, or the socket's writes paused (flow control): the caller then
    sends it through the ASGI `send`, which waits."""
    cycle = getattr(send, "__self__", None)
    if not isinstance(cycle, RequestResponseCycle) or not chunk:
        return False
    joined = cycle.transport
    if (
        not isinstance(joined, _JoinedWrites)
        or not cycle.response_started
        or cycle.response_complete
        or not cycle.chunked_encoding
        or cycle.disconnected
        or cycle.flow.write_paused
        or joined.is_closing()
    ):
        return False
    joined.write_now(b"%x\r\n%b\r\n" % (len(chunk), chunk))
    return True
