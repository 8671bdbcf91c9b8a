"""`milestones serve`'s HTTP protocol: what one loop step writes to a connection leaves in one
write, in order, and a WebSocket upgrade gets the real transport."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from milestones.web.http_protocol import _JoinedWrites, write_chunk
from tests.subscriptions.wsclient import served_url


class RecordingTransport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = self.aborted = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 1) if name in ("peername", "sockname") else default


async def test_writes_of_one_loop_step_leave_as_one() -> None:
    real = RecordingTransport()
    joined = _JoinedWrites(real, asyncio.get_running_loop())  # type: ignore[arg-type]
    joined.write(b"HTTP/1.1 200 OK\r\n\r\n")
    joined.write(b"body")
    assert real.writes == []
    await asyncio.sleep(0)
    assert real.writes == [b"HTTP/1.1 200 OK\r\n\r\nbody"]
    joined.write(b"next")
    await asyncio.sleep(0)
    joined.write(b"step")
    await asyncio.sleep(0)
    assert real.writes[1:] == [b"next", b"step"]
    assert joined.get_extra_info("peername") == ("127.0.0.1", 1)  # the rest is the transport's


async def test_close_sends_what_is_pending_and_abort_drops_it() -> None:
    loop = asyncio.get_running_loop()
    closed, aborted = RecordingTransport(), RecordingTransport()
    for real in (closed, aborted):
        joined = _JoinedWrites(real, loop)  # type: ignore[arg-type]
        joined.write(b"last words")
        joined.close() if real is closed else joined.abort()
    await asyncio.sleep(0)
    assert (closed.writes, closed.closed) == ([b"last words"], True)
    assert (aborted.writes, aborted.aborted) == ([], True)


async def test_responses_keep_their_order_and_a_stream_its_parts() -> None:
    async def whole(request: Request) -> Response:
        return Response(b"x" * 1000, media_type="text/plain")

    async def stream(request: Request) -> StreamingResponse:
        async def parts() -> Any:
            for number in range(5):
                yield f"part {number}\n"
                await asyncio.sleep(0.01)

        return StreamingResponse(parts(), media_type="text/plain")

    async with served_url(Starlette(routes=[Route("/", whole), Route("/s", stream)])) as url:
        host, port = url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        for _ in range(3):  # keep-alive: one response after the other, whole
            writer.write(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
            first = await reader.read(65536)
            head, _, body = first.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200") and body == b"x" * 1000
        writer.close()
        async with httpx.AsyncClient(base_url=url) as client:
            response = await client.get("/s")
        assert response.text == "".join(f"part {number}\n" for number in range(5))


async def test_a_streamed_chunk_goes_straight_to_the_socket_where_that_is_plain() -> None:
    """`write_chunk`: an event stream's chunk framed as uvicorn frames it and written at once
    (in order with what the ASGI `send` wrote), only once the chunked response has started;
    anything but the server's own send, or a response not started or complete, is refused."""
    answers: list[bool] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        answers.append(write_chunk(send, b"too early"))  # the response has not started
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"first\n", "more_body": True})
        for number in range(3):
            answers.append(write_chunk(send, f"direct {number}\n".encode()))
        await send({"type": "http.response.body", "body": b"last\n", "more_body": True})
        answers.append(write_chunk(send, b"after\n"))
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        answers.append(write_chunk(send, b"complete"))  # the response is over

    async def not_the_server(message: Any) -> None:
        pass

    assert not write_chunk(not_the_server, b"x")
    async with served_url(app) as url, httpx.AsyncClient(base_url=url) as client:
        response = await client.get("/")
    assert response.headers["transfer-encoding"] == "chunked"
    assert response.text == "first\ndirect 0\ndirect 1\ndirect 2\nlast\nafter\n"
    assert answers == [False, True, True, True, True, False]
