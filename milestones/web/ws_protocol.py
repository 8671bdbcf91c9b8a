"""uvicorn's WebSocket protocol (the websockets library's sans-I/O one), holding less per socket.

An idle subscriber is mostly its protocol object. tracemalloc over 2,000 idle subscriptions
(`bench.fanout`'s clients; 23.3 KiB of Python objects a socket) put 18 KiB of each on uvicorn
and the websockets library, and three of their holdings outlive their use:
- the handshake's request and response, headers and all (4 KiB), kept for the socket's life
  though nothing reads them once the response is sent;
- an `asyncio.Queue` of received messages: three deques of 64 slots (2.3 KiB), although
  uvicorn stops reading after each message until the app has taken it, so it holds a few;
- an `asyncio.Event` for the transport's flow control: one more deque (0.8 KiB).
Here the request and response are let go once the handshake is sent, and the queue and the
event are small ones (`_Inbox`, `_Flag`) that allocate nothing until someone waits.

It also writes text frames straight to the socket (`send_text_frames`, through
`live.transport.write_text_frames`): a fan-out's frame, and a subscription's catch-up in one
system call, where uvicorn's `send` is a coroutine per frame and writes each on its own.

Everything else is uvicorn's: frames, limits (`ws_max_size`), keepalive pings, close
handshakes, back-pressure (reading pauses after each message until the app takes it).
"""

from __future__ import annotations

import asyncio
import struct
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State


class _Waiters:
    """Futures of whoever waits, as a list made only when someone does."""

    __slots__ = ("_waiters",)

    def __init__(self) -> None:
        self._waiters: list[asyncio.Future[None]] | None = None

    async def _wait(self) -> None:
        waiter = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = [waiter]
        else:
            self._waiters.append(waiter)
        try:
            await waiter
        finally:
            if self._waiters is not None and waiter in self._waiters:
                self._waiters.remove(waiter)

    def _wake_all(self) -> None:
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)


class _Inbox(_Waiters):
    """What uvicorn's protocol asks of its `asyncio.Queue` (`put_nowait`, `get`, `empty`), in
    a list that stays short (reading pauses after each message) and with a waiter only while
    the app waits."""

    __slots__ = ("_items",)

    def __init__(self) -> None:
        super().__init__()
        self._items: list[Any] = []

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        self._wake_all()

    async def get(self) -> Any:
        while not self._items:
            await self._wait()
        return self._items.pop(0)

    def empty(self) -> bool:
        return not self._items

    def qsize(self) -> int:
        return len(self._items)


class _Flag(_Waiters):
    """What uvicorn's protocol asks of its `asyncio.Event` (`set`, `clear`, `wait`,
    `is_set`), with waiters only while the transport's buffer is full."""

    __slots__ = ("_set",)

    def __init__(self) -> None:
        super().__init__()
        self._set = False

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        if not self._set:
            self._set = True
            self._wake_all()

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> bool:
        if not self._set:
            await self._wait()
        return True


class LeanWebSocketProtocol(WebSocketsSansIOProtocol):
    """`milestones serve`'s WebSocket protocol (uvicorn's `ws=`): see the module."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = _Inbox()  # type: ignore[assignment]
        writable = _Flag()
        if self.writable.is_set():
            writable.set()
        self.writable = writable  # type: ignore[assignment]

    async def send(self, message: Any) -> None:
        await super().send(message)
        if self.handshake_complete and getattr(self, "response", None) is not None:
            # The handshake is sent (or the socket is gone): nothing reads these again. The
            # request's headers are emptied too: the websockets parser goes on as the frame
            # parser and keeps the request (a local of its generator) for the socket's life.
            # (The app has them: uvicorn copied them into the ASGI scope.)
            self.request.headers.clear()
            self.request = None  # type: ignore[assignment]
            self.response = None  # type: ignore[assignment]

    def send_text_frames(self, frames: list[str]) -> bool:
        """`frames` as text frames in one write to the socket. False, and nothing written,
        where the socket is not plainly open (closing, handshake pending, its writes paused
        for flow control): the caller then sends them one ASGI `send` each."""
        if (
            self.disconnected
            or not self.handshake_complete
            or self.close_sent
            or self.initial_response is not None
            or not self.writable.is_set()
            or self.transport.is_closing()
            or self.conn.state is not State.OPEN
        ):
            return False
        if self.conn.extensions or self.conn.expect_continuation_frame:
            # Compressed frames (permessage-deflate, off in `milestones serve`) are the
            # library's to make.
            for frame in frames:
                self.conn.send_text(frame.encode())
            self.transport.write(b"".join(self.conn.data_to_send()))
            return True
        self.transport.write(b"".join([text_frame(frame.encode()) for frame in frames]))
        return True


_SHORT = struct.Struct("!BBH").pack
_LONG = struct.Struct("!BBQ").pack


def text_frame(payload: bytes) -> bytes:
    """A whole, unmasked, uncompressed text frame (RFC 6455 5.2: a server's frames are not
    masked): what `websockets`' `Frame(TEXT, payload).serialize(mask=False)` makes, without
    the checks and the stream it goes through for every frame."""
    length = len(payload)
    if length < 126:
        return bytes((0x81, length)) + payload
    if length < 65536:
        return _SHORT(0x81, 126, length) + payload
    return _LONG(0x81, 127, length) + payload
