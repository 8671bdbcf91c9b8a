"""A lean websocket client for thousands of sockets: one asyncio Protocol per socket, frames
parsed by hand, no task per socket. Runs in worker processes driven by `bench.fanout`.

Modes: "graphql" speaks graphql-transport-ws (connection_init with the token, connection_ack,
subscribe, `next` messages); "sse" is GraphQL over server-sent events (one GET with
`Accept: text/event-stream` and the token, then `event: next` in the body); "bare" just
connects and counts messages. Every socket notes the
monotonic time (system-wide on Linux) its first message of a round arrived.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import socket
import struct
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any
from urllib.parse import urlencode

CONNECT_CONCURRENCY = 64
HANDSHAKE_TIMEOUT_SECONDS = 60.0
_ZERO_MASK = b"\x00\x00\x00\x00"  # a mask the server XORs away: valid, and free to apply
_NEXT = b'"type":"next"'  # within a server message's first 40 bytes: a `next`


@dataclass(frozen=True)
class WorkerSpec:
    host: str
    port: int
    path: str
    count: int
    mode: str  # "graphql", "sse" or "bare"
    tokens: tuple[str, ...]  # bearer tokens, used round-robin
    query: str
    variables: dict[str, Any]
    connect_deadline: float  # time.monotonic(): sockets not open by then are given up
    # Per socket, round-robin: an `after` cursor added to `variables` (a resuming subscriber).
    afters: tuple[str, ...] = ()


def _frame(text: str) -> bytes:
    payload = text.encode()
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x81, 0x80 | length)
    elif length < 65536:
        header = struct.pack("!BBH", 0x81, 0x80 | 126, length)
    else:
        header = struct.pack("!BBQ", 0x81, 0x80 | 127, length)
    return header + _ZERO_MASK + payload


class Socket(asyncio.Protocol):
    def __init__(
        self,
        spec: WorkerSpec,
        token: str,
        on_first: asyncio.Event,
        variables: dict[str, Any] | None = None,
    ) -> None:
        self.spec = spec
        self.token = token
        self.variables = spec.variables if variables is None else variables
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport: Any = None
        self.buffer = bytearray()
        self.upgraded = False
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.received_at: float | None = None
        self.messages = 0
        self.error: str | None = None
        self._on_first = on_first

    # --- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        if self.spec.mode == "sse":
            query = urlencode({"query": self.spec.query, "variables": json.dumps(self.variables)})
            self.transport.write(
                (
                    f"GET {self.spec.path}?{query} HTTP/1.1\r\n"
                    f"Host: {self.spec.host}:{self.spec.port}\r\n"
                    f"Accept: text/event-stream\r\nAuthorization: {self.token}\r\n\r\n"
                ).encode()
            )
            return
        key = base64.b64encode(os.urandom(16)).decode()
        protocol = (
            "Sec-WebSocket-Protocol: graphql-transport-ws\r\n"
            if self.spec.mode == "graphql"
            else ""
        )
        self.transport.write(
            (
                f"GET {self.spec.path} HTTP/1.1\r\nHost: {self.spec.host}:{self.spec.port}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{protocol}\r\n"
            ).encode()
        )

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        self.buffer += data
        if not self.upgraded:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(self.buffer[: self.buffer.find(b"\r\n")])
            del self.buffer[: end + 4]
            expected = b" 200 " if self.spec.mode == "sse" else b" 101 "
            if expected not in status:
                self._fail(f"handshake refused: {status.decode(errors='replace')}")
                return
            self.upgraded = True
            if self.spec.mode == "graphql":
                self.send({"type": "connection_init", "payload": {"authorization": self.token}})
            else:
                self._set_ready()
        if self.spec.mode == "sse":
            self._read_events(now)
        else:
            self._read_frames(now)

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(f"connection lost: {exc!r}")

    # --- server-sent events ----------------------------------------------------------------

    def _read_events(self, now: float) -> None:
        # Counted by their `event: next` line; the tail is kept in case a line was split.
        count = self.buffer.count(b"event: next\n")
        keep = self.buffer.rfind(b"\n")
        del self.buffer[: keep + 1]
        for _ in range(count):
            self._message(b"", now)

    # --- frames ----------------------------------------------------------------------------

    def _read_frames(self, now: float) -> None:
        buffer = self.buffer
        while len(buffer) >= 2:
            opcode = buffer[0] & 0x0F
            length = buffer[1] & 0x7F
            start = 2
            if length == 126:
                if len(buffer) < 4:
                    return
                length = struct.unpack_from("!H", buffer, 2)[0]
                start = 4
            elif length == 127:
                if len(buffer) < 10:
                    return
                length = struct.unpack_from("!Q", buffer, 2)[0]
                start = 10
            if len(buffer) < start + length:
                return
            payload = bytes(buffer[start : start + length])
            del buffer[: start + length]
            if opcode in (0x1, 0x2):
                self._message(payload, now)
            elif opcode == 0x9 and self.transport is not None:  # ping: pong
                pong = struct.pack("!BB", 0x8A, 0x80 | len(payload))
                self.transport.write(pong + _ZERO_MASK + payload)
            elif opcode == 0x8:
                code = struct.unpack_from("!H", payload)[0] if len(payload) >= 2 else None
                self._fail(f"closed by the server ({code})")

    def _message(self, payload: bytes, now: float) -> None:
        # (sse: only `next` events are counted; graphql: a `next` is counted unparsed, the
        # load generator shares the server's cores)
        if self.spec.mode == "graphql" and _NEXT not in payload[:40]:
            message = json.loads(payload)
            kind = message.get("type")
            if kind == "connection_ack":
                self.send(
                    {
                        "id": "1",
                        "type": "subscribe",
                        "payload": {"query": self.spec.query, "variables": self.variables},
                    }
                )
                self._set_ready()
                return
            if kind == "ping":
                self.send({"type": "pong"})
                return
            if kind != "next":
                self._fail(f"unexpected message: {payload[:300]!r}")
                return
        self.messages += 1
        if self.received_at is None:
            self.received_at = now
            self._on_first.set()

    def send(self, message: dict[str, Any]) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(_frame(json.dumps(message)))

    def _set_ready(self) -> None:
        if not self.ready.done():
            self.ready.set_result(None)

    def _fail(self, why: str) -> None:
        if self.error is None:
            self.error = why
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(why))

    def abort(self) -> None:
        """Close without a TIME_WAIT socket left behind (RST): thousands of ports are reused."""
        if self.transport is None:
            return
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.transport.abort()


class Worker:
    def __init__(self, spec: WorkerSpec) -> None:
        self.spec = spec
        self.sockets: list[Socket] = []
        self.first_message = asyncio.Event()
        self.failures: list[str] = []

    async def connect_all(self) -> None:
        loop = asyncio.get_running_loop()
        limit = asyncio.Semaphore(CONNECT_CONCURRENCY)

        async def open_one(index: int) -> None:
            token = self.spec.tokens[index % len(self.spec.tokens)]
            afters = self.spec.afters
            variables = (
                {**self.spec.variables, "after": afters[index % len(afters)]} if afters else None
            )
            async with limit:
                left = self.spec.connect_deadline - time.monotonic()
                if left <= 0:
                    self.failures.append("not connected before the deadline")
                    return
                protocol: Socket | None = None
                try:
                    _, protocol = await loop.create_connection(
                        lambda: Socket(self.spec, token, self.first_message, variables),
                        self.spec.host,
                        self.spec.port,
                    )
                    await asyncio.wait_for(protocol.ready, min(left, HANDSHAKE_TIMEOUT_SECONDS))
                    self.sockets.append(protocol)
                except Exception as error:
                    self.failures.append(f"{type(error).__name__}: {error}")
                    if protocol is not None:
                        protocol.abort()

        await asyncio.gather(*(open_one(i) for i in range(self.spec.count)))

    def arm(self) -> None:
        for sock in self.sockets:
            sock.received_at = None
        self.first_message.clear()

    async def collect(self, within: float) -> list[float | None]:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if all(sock.received_at is not None for sock in self.sockets):
                break
            self.first_message.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.first_message.wait(), 0.05)
        return [sock.received_at for sock in self.sockets]

    def close(self) -> None:
        for sock in self.sockets:
            sock.abort()


async def _serve(conn: Connection, spec: WorkerSpec) -> None:
    loop = asyncio.get_running_loop()
    worker = Worker(spec)
    await worker.connect_all()
    errors = [sock.error for sock in worker.sockets if sock.error]
    failures = sorted(set(worker.failures))
    conn.send(("connected", len(worker.sockets), failures[:5] + errors[:5]))
    while True:
        command, argument = await loop.run_in_executor(None, conn.recv)
        if command == "arm":
            worker.arm()
            conn.send(("armed", None, []))
        elif command == "collect":
            times = await worker.collect(float(argument))
            errors = [sock.error for sock in worker.sockets if sock.error]
            conn.send(("collected", times, errors[:5]))
        elif command == "close":
            worker.close()
            await asyncio.sleep(0.1)
            conn.send(("closed", None, []))
            return


def worker_main(conn: Connection, spec: WorkerSpec) -> None:
    """Entry point of a client process."""
    from bench.servers import raise_open_files_limit

    raise_open_files_limit()
    try:
        import uvloop
    except ImportError:
        asyncio.run(_serve(conn, spec))
    else:
        uvloop.run(_serve(conn, spec))
