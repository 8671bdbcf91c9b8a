"""Broker connections for the wake-up bus: broadcaster backends that say when they are lost.

broadcaster 0.3.1's own backends fail silently. Redis: redis-py reconnects the pub/sub socket
behind the backend's back (whatever was published meanwhile is gone, and nobody is told), and
when it gives up the backend's reader task dies unobserved while the broadcast keeps waiting
on an empty queue. PostgreSQL: a closed LISTEN connection is never noticed or reopened, and
concurrent publishes share that one asyncpg connection. These backends keep broadcaster's
interface and add `lost`: a future resolved the moment the subscription can no longer be
trusted, so the bus can rebuild it and have every subscriber catch up from the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from broadcaster import Event
from broadcaster._backends.base import BroadcastBackend
from broadcaster._backends.memory import MemoryBackend
from redis import asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff, NoBackoff

CONNECT_TIMEOUT_SECONDS = 3.0
COMMAND_TIMEOUT_SECONDS = 3.0
# Wake-ups are tiny and drained at once; more than this waiting means something is stuck.
MAX_QUEUED_EVENTS = 10_000


def client_name(bus_id: str) -> str:
    """How a bus shows up in Redis `CLIENT LIST` and PostgreSQL `pg_stat_activity`."""
    return f"milestones:{socket.gethostname()}:{os.getpid()}:{bus_id}"


class SupervisedBackend(BroadcastBackend):
    """A broadcaster backend with a `lost` future: its result is why it stopped delivering."""

    lost: asyncio.Future[BaseException]

    def __init__(self, url: str, name: str = "milestones") -> None:
        self.url = url
        self.name = name
        self._queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=MAX_QUEUED_EVENTS)

    def _arm(self) -> None:
        self.lost = asyncio.get_running_loop().create_future()

    def _lose(self, error: BaseException) -> None:
        if not self.lost.done():
            self.lost.set_result(error)

    def _deliver(self, channel: str, message: str) -> None:
        try:
            self._queue.put_nowait(Event(channel=channel, message=message))
        except asyncio.QueueFull:  # rebuild and catch up from the database instead
            self._lose(OverflowError("wake-up queue full"))

    async def next_published(self) -> Event:
        return await self._queue.get()


class MemoryBroker(MemoryBackend):
    """In-process: it cannot lose its connection, so `lost` never resolves."""

    lost: asyncio.Future[BaseException]

    async def connect(self) -> None:
        await super().connect()
        self.lost = asyncio.get_running_loop().create_future()


class RedisBroker(SupervisedBackend):
    """Redis pub/sub. The subscribing connection never retries on its own: a dropped socket
    (server restart, `CLIENT KILL`, network) surfaces as `lost` instead of a silent gap."""

    async def connect(self) -> None:
        self._arm()
        name = self.name
        self._subscriber = aioredis.Redis.from_url(
            self.url,
            retry=Retry(NoBackoff(), 0),
            socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
            socket_keepalive=True,
            client_name=f"{name}:sub",
        )
        # Publishing may retry briefly (a pooled socket left over from a restart), never long.
        self._publisher = aioredis.Redis.from_url(
            self.url,
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 2),
            socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
            socket_timeout=COMMAND_TIMEOUT_SECONDS,
            client_name=f"{name}:pub",
        )
        self._pubsub = self._subscriber.pubsub(ignore_subscribe_messages=True)
        self._reader: asyncio.Task[None] | None = None
        await self._publisher.ping()

    async def subscribe(self, channel: str) -> None:
        await self._pubsub.subscribe(channel)
        if self._reader is None:
            self._reader = asyncio.create_task(self._read(), name="redis-wakeup-reader")

    async def _read(self) -> None:
        try:
            async for message in self._pubsub.listen():
                if message.get("type") == "message":
                    self._deliver(_text(message["channel"]), _text(message["data"]))
            self._lose(ConnectionError("redis subscription ended"))
        except asyncio.CancelledError:
            raise
        except Exception as error:
            self._lose(error)

    async def unsubscribe(self, channel: str) -> None:
        if not self.lost.done():
            with contextlib.suppress(Exception):
                await self._pubsub.unsubscribe(channel)

    async def publish(self, channel: str, message: Any) -> None:
        await self._publisher.publish(channel, message)

    async def disconnect(self) -> None:
        if getattr(self, "_reader", None) is not None:
            assert self._reader is not None
            self._reader.cancel()
            with contextlib.suppress(BaseException):
                await self._reader
        for client in ("_pubsub", "_subscriber", "_publisher"):
            if hasattr(self, client):
                with contextlib.suppress(Exception):
                    await getattr(self, client).aclose()


class PostgresBroker(SupervisedBackend):
    """PostgreSQL LISTEN/NOTIFY: one listening connection watched for termination, and a
    small pool for NOTIFY so concurrent publishes never share a connection."""

    async def connect(self) -> None:
        self._arm()
        dsn = asyncpg_dsn(self.url)
        self._pool: asyncpg.Pool | None = None
        self._listening = await asyncpg.connect(
            dsn,
            timeout=CONNECT_TIMEOUT_SECONDS,
            server_settings={"application_name": f"{self.name}:listen"[:63]},
        )
        self._listening.add_termination_listener(self._on_terminated)
        self._pool = await asyncpg.create_pool(
            dsn,
            min_size=1,
            max_size=2,
            timeout=CONNECT_TIMEOUT_SECONDS,
            command_timeout=COMMAND_TIMEOUT_SECONDS,
            server_settings={"application_name": f"{self.name}:notify"[:63]},
        )

    def _on_terminated(self, connection: Any) -> None:
        self._lose(ConnectionError("PostgreSQL LISTEN connection closed"))

    def _on_notify(self, connection: Any, pid: int, channel: str, payload: str) -> None:
        self._deliver(channel, payload)

    async def subscribe(self, channel: str) -> None:
        await self._listening.add_listener(channel, self._on_notify)

    async def unsubscribe(self, channel: str) -> None:
        if not self.lost.done():
            with contextlib.suppress(Exception):
                await self._listening.remove_listener(channel, self._on_notify)

    async def publish(self, channel: str, message: Any) -> None:
        assert self._pool is not None
        await self._pool.execute("SELECT pg_notify($1, $2)", channel, message)

    async def disconnect(self) -> None:
        listening = getattr(self, "_listening", None)
        if listening is not None:
            listening.remove_termination_listener(self._on_terminated)
            try:
                await listening.close(timeout=CONNECT_TIMEOUT_SECONDS)
            except Exception:
                listening.terminate()
        if getattr(self, "_pool", None) is not None:
            assert self._pool is not None
            try:
                async with asyncio.timeout(CONNECT_TIMEOUT_SECONDS):
                    await self._pool.close()
            except Exception:
                self._pool.terminate()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def asyncpg_dsn(url: str) -> str:
    """A Tortoise-style URL as asyncpg wants it (Tortoise's query options mean nothing to it)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme="postgresql", query=""))


def broker_for(url: str, name: str) -> SupervisedBackend | MemoryBroker:
    scheme = urlsplit(url).scheme
    if scheme == "memory":
        return MemoryBroker(url)
    if scheme in {"redis", "rediss"}:
        return RedisBroker(url, name)
    if scheme in {"postgres", "postgresql"}:
        return PostgresBroker(url, name)
    raise ValueError(f"BROADCAST_URL: unsupported scheme {scheme!r} (memory, redis, postgres)")


def topic_for(url: str) -> str:
    """The broadcast channel. Redis pub/sub ignores database numbers, so scope by it."""
    parts = urlsplit(url)
    if parts.scheme in {"redis", "rediss"} and parts.path.strip("/"):
        return f"milestones.db{parts.path.strip('/')}"
    return "milestones"
