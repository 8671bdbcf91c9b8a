"""`milestones serve`'s WebSocket protocol: uvicorn's, with a lighter inbox and flow-control
flag, and without the handshake's request and response once it is sent."""

from __future__ import annotations

import asyncio
import gc

from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect
from websockets.asyncio.client import connect
from websockets.frames import Frame, Opcode
from websockets.http11 import Request

from milestones.live.transport import write_text_frames
from milestones.web.ws_protocol import LeanWebSocketProtocol, _Flag, _Inbox, text_frame
from tests.subscriptions.wsclient import served_url


async def test_the_inbox_hands_out_in_order_and_wakes_a_waiting_reader() -> None:
    inbox = _Inbox()
    inbox.put_nowait(1)
    inbox.put_nowait(2)
    assert (inbox.qsize(), await inbox.get(), await inbox.get(), inbox.empty()) == (2, 1, 2, True)
    reader = asyncio.create_task(inbox.get())
    await asyncio.sleep(0)
    assert not reader.done()
    inbox.put_nowait(3)
    assert await asyncio.wait_for(reader, 1) == 3


async def test_a_cancelled_reader_leaves_nothing_behind_and_two_readers_both_get_one() -> None:
    inbox = _Inbox()
    gone = asyncio.create_task(inbox.get())
    await asyncio.sleep(0)
    gone.cancel()
    await asyncio.gather(gone, return_exceptions=True)
    assert inbox._waiters in (None, [])
    first, second = asyncio.create_task(inbox.get()), asyncio.create_task(inbox.get())
    await asyncio.sleep(0)
    inbox.put_nowait("a")
    inbox.put_nowait("b")
    assert sorted(await asyncio.wait_for(asyncio.gather(first, second), 1)) == ["a", "b"]


async def test_the_flag_holds_writers_until_set() -> None:
    flag = _Flag()
    assert not flag.is_set()
    writer = asyncio.create_task(flag.wait())
    await asyncio.sleep(0)
    assert not writer.done()
    flag.set()
    assert await asyncio.wait_for(writer, 1) is True
    flag.clear()
    assert not flag.is_set()
    flag.set()
    assert await flag.wait() is True  # set: no waiting


async def test_a_served_socket_talks_in_order_and_keeps_no_handshake() -> None:
    closed: list[int] = []

    async def echo(websocket: WebSocket) -> None:
        await websocket.accept(subprotocol="graphql-transport-ws")
        try:
            while True:
                await websocket.send_text(await websocket.receive_text())
        except WebSocketDisconnect as disconnect:
            closed.append(disconnect.code)

    app = Starlette(routes=[WebSocketRoute("/ws", echo)])
    async with served_url(app) as url:
        async with connect(
            url.replace("http://", "ws://") + "/ws", subprotocols=["graphql-transport-ws"]
        ) as socket:
            for number in range(20):  # sent at once: read one at a time, answered in order
                await socket.send(f"message {number}")
            assert [await socket.recv() for _ in range(20)] == [f"message {n}" for n in range(20)]
            gc.collect()
            served = [
                o
                for o in gc.get_objects()
                if type(o) is LeanWebSocketProtocol and not o.disconnected
            ]
            assert len(served) == 1
            protocol = served[0]
            assert (protocol.request, protocol.response) == (None, None)
            # The websockets parser keeps the request as a local: its headers are emptied.
            kept = [
                request
                for request in gc.get_objects()
                if type(request) is Request
                and any(
                    getattr(holder, "__qualname__", "") == "ServerProtocol.parse"
                    for holder in gc.get_referrers(request)
                )
            ]
            assert kept and all(len(request.headers) == 0 for request in kept)
            # Several frames in one write, unless the socket's writes are paused.
            (protocol,) = [p for p in served if p.scope["path"] == "/ws"]
            protocol.writable.clear()
            assert protocol.send_text_frames(["held"]) is False
            protocol.writable.set()
            assert write_text_frames(protocol.send, ["one", "two"]) is True
            assert [await socket.recv(), await socket.recv()] == ["one", "two"]
            assert write_text_frames(print, ["x"]) is False  # not a protocol's send
            assert isinstance(protocol.queue, _Inbox) and isinstance(protocol.writable, _Flag)
        for _ in range(100):
            if closed:
                break
            await asyncio.sleep(0.01)
    assert closed == [1000]


def test_a_text_frame_is_the_bytes_websockets_makes_at_every_length_boundary() -> None:
    for length in (0, 1, 125, 126, 127, 65535, 65536, 70000):
        payload = ("é" * length).encode()[:length]  # UTF-8 bytes, cut anywhere: still bytes
        made = Frame(Opcode.TEXT, payload).serialize(mask=False, extensions=[])
        assert text_frame(payload) == made, length
