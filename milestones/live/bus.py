"""Wake-ups between processes. The database is the source of truth: a message only says
"something new up to seq N on channel C", and subscribers read the rows themselves.

One broadcaster subscription per process fans out to local listeners, each a flag (no
per-subscriber queue, so a slow subscriber holds no memory). The subscription is supervised:
when the broker connection drops, goes silent or falls behind, the bus rebuilds it and then
wakes every listener so it catches up from the database. Publishing never blocks an action:
wake-ups go to a bounded outbox drained by a publisher task; what it cannot deliver becomes
one "wake everyone" message once the broker is back.

Wire format, one broadcast message: `<sender> <token> <token> …` where a token is
`<channel>:<seq>` (say `contract:12:7`), `*` (every listener, everywhere) or `~` (heartbeat).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from typing import Any, TypeVar, cast

from broadcaster import Broadcast

from milestones.domain.transaction import Wakeup
from milestones.live.brokers import broker_for, client_name, topic_for

logger = logging.getLogger(__name__)

T = TypeVar("T")

WAKE_ALL = "*"
HEARTBEAT = "~"
# PostgreSQL NOTIFY payloads must stay under 8000 bytes.
MAX_MESSAGE_CHARS = 7000
PUBLISH_TIMEOUT_SECONDS = 3.0


class Listener:
    """A subscriber's doorbell: set when its channel may have something new."""

    __slots__ = ("channel", "event")

    def __init__(self, channel: str) -> None:
        self.channel = channel
        self.event = asyncio.Event()

    async def wait(self, at_most: float) -> bool:
        """Whether the doorbell rang (False: `at_most` seconds passed in silence)."""
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
        # arrives as the event is set, leaving an unsubscribed stream running forever.
        rang = False
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(at_most):
                await self.event.wait()
                rang = True
        self.event.clear()
        return rang


class WakeupBus:
    def __init__(
        self,
        url: str,
        *,
        heartbeat_seconds: float = 2.0,
        max_pending: int = 10_000,
        reconnect_delay: float = 0.2,
        max_reconnect_delay: float = 5.0,
    ) -> None:
        self.url = url
        self.topic = topic_for(url)
        self.remote = not url.startswith("memory")
        # In-process delivery cannot go silent; a remote broker must echo a heartbeat.
        self.heartbeat_seconds = heartbeat_seconds if self.remote else None
        self.max_pending = max_pending
        self.reconnect_delay = reconnect_delay
        self.max_reconnect_delay = max_reconnect_delay
        self.sender = secrets.token_hex(6)
        self._listeners: dict[str, set[Listener]] = defaultdict(set)
        # How often each listened channel has rung: lets its subscribers share one read.
        self._rings: dict[str, int] = {}
        self._shared: dict[str, object] = {}
        self._broadcast: Broadcast | None = None
        self._ready = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._pending: deque[str] = deque()
        self._pending_ready = asyncio.Event()
        self._owe_wake_all = False
        self._last_heard = 0.0
        self.reconnects = 0

    # --- life cycle -------------------------------------------------------------------------

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._supervise(), name="wakeup-bus"),
            asyncio.create_task(self._publish_pending(), name="wakeup-bus-publisher"),
        ]
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                await self._ready.wait()

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    @property
    def connected(self) -> bool:
        return self._broadcast is not None and self._ready.is_set()

    @property
    def listener_count(self) -> int:
        return sum(len(listeners) for listeners in self._listeners.values())

    def listener_count_on(self, prefix: str) -> int:
        """Listeners on channels starting with `prefix` (say "contract:", leaving out the
        email and webhook senders' doorbells)."""
        return sum(
            len(listeners)
            for channel, listeners in self._listeners.items()
            if channel.startswith(prefix)
        )

    # --- the subscription -------------------------------------------------------------------

    async def _supervise(self) -> None:
        delay = self.reconnect_delay
        while True:
            backend = broker_for(self.url, client_name(self.sender))
            broadcast = Broadcast(backend=backend)
            try:
                await broadcast.connect()
                async with broadcast.subscribe(self.topic) as subscriber:
                    self._broadcast = broadcast
                    self._last_heard = asyncio.get_running_loop().time()
                    self._ready.set()
                    if self.reconnects:
                        logger.info("wake-up bus reconnected to its broker")
                    delay = self.reconnect_delay
                    self._pending_ready.set()
                    # Subscribed first, then wake: whatever was committed while we were not
                    # listening is read from the database, and later commits ring again.
                    self.wake_all()
                    await self._consume(subscriber, backend.lost)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                logger.warning("wake-up bus lost its broker (%r); reconnecting", error)
            finally:
                self._ready.clear()
                self._broadcast = None
                with contextlib.suppress(Exception):
                    await broadcast.disconnect()
                with contextlib.suppress(Exception):  # also when connect() failed half-way
                    await backend.disconnect()
            self.reconnects += 1
            # Missed wake-ups cost nothing: everyone re-reads the database.
            self.wake_all()
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.max_reconnect_delay)

    async def _consume(self, subscriber: Any, lost: asyncio.Future[BaseException]) -> None:
        reader = asyncio.create_task(self._read(subscriber))
        loop = asyncio.get_running_loop()
        silence_limit = 3 * self.heartbeat_seconds if self.heartbeat_seconds else None
        watched: set[asyncio.Future[Any]] = {reader, lost}
        try:
            while True:
                done, _ = await asyncio.wait(
                    watched, timeout=silence_limit, return_when=asyncio.FIRST_COMPLETED
                )
                if lost in done:
                    raise ConnectionError(f"broker connection lost: {lost.result()!r}")
                if reader in done:
                    reader.result()
                    raise ConnectionError("broker subscription ended")
                if silence_limit and loop.time() - self._last_heard > silence_limit:
                    raise ConnectionError(f"no heartbeat from the broker in {silence_limit}s")
        finally:
            reader.cancel()
            with contextlib.suppress(BaseException):
                await reader

    async def _read(self, subscriber: Any) -> None:
        loop = asyncio.get_running_loop()
        async for event in subscriber:
            self._last_heard = loop.time()
            sender, _, tokens = event.message.partition(" ")
            if sender != self.sender:  # our own were dispatched locally already
                self._dispatch(tokens)

    # --- local fan-out ----------------------------------------------------------------------

    def _dispatch(self, tokens: str) -> None:
        for token in tokens.split():
            if token == WAKE_ALL:
                self.wake_all()
            elif token != HEARTBEAT:
                self.ring(token.rsplit(":", 1)[0])

    def ring(self, channel: str) -> None:
        """Something may be new on `channel`: wake its listeners."""
        listeners = self._listeners.get(channel)
        if not listeners:
            return
        self._rings[channel] = self._rings.get(channel, 0) + 1
        for listener in listeners:
            listener.event.set()

    def wake_all(self) -> None:
        for channel in list(self._listeners):
            self.ring(channel)

    def rings(self, channel: str) -> int:
        return self._rings.get(channel, 0)

    def shared(self, channel: str, create: Callable[[], T]) -> T:
        """One object per listened channel, shared by its local subscribers (their feed)."""
        found = self._shared.get(channel)
        if found is None:
            found = self._shared[channel] = create()
        return cast(T, found)

    @contextlib.contextmanager
    def listen(self, channel: str, *also: str) -> Iterator[Listener]:
        """A doorbell for `channel`, rung also by the channels `also` (a subscriber's access)."""
        listener = Listener(channel)
        channels = (channel, *also)
        for name in channels:
            self._listeners[name].add(listener)
        try:
            yield listener
        finally:
            for name in channels:
                listeners = self._listeners.get(name)
                if listeners is not None:
                    listeners.discard(listener)
                    if not listeners:
                        del self._listeners[name]
                        self._rings.pop(name, None)
                        self._shared.pop(name, None)

    # --- publishing -------------------------------------------------------------------------

    async def publish(self, wakeups: list[Wakeup]) -> None:
        """After a commit: ring local listeners now, queue the rest for the other processes."""
        tokens = " ".join(f"{w.channel}:{w.seq}" for w in wakeups)
        self._dispatch(tokens)
        if not self.remote:
            return
        if len(self._pending) >= self.max_pending:
            # The broker is away or slow: one "wake everyone" replaces the backlog.
            self._pending.clear()
            self._owe_wake_all = True
        else:
            self._pending.append(tokens)
        self._pending_ready.set()

    def _next_message(self) -> str | None:
        if self._owe_wake_all:
            self._owe_wake_all = False
            self._pending.clear()
            return WAKE_ALL
        parts: list[str] = []
        size = 0
        while self._pending and size + len(self._pending[0]) < MAX_MESSAGE_CHARS:
            tokens = self._pending.popleft()
            parts.append(tokens)
            size += len(tokens) + 1
        return " ".join(parts) if parts else None

    async def _publish_pending(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.heartbeat_seconds):
                    await self._pending_ready.wait()
            self._pending_ready.clear()
            broadcast = self._broadcast
            if broadcast is None:
                continue  # kept until the supervisor reconnects and rings us
            message = self._next_message() or (HEARTBEAT if self.heartbeat_seconds else None)
            while message is not None:
                try:
                    async with asyncio.timeout(PUBLISH_TIMEOUT_SECONDS):
                        await broadcast.publish(self.topic, f"{self.sender} {message}")
                except asyncio.CancelledError:
                    raise
                except Exception as error:
                    logger.warning("publishing wake-ups failed (%r); will wake everyone", error)
                    self._owe_wake_all = True
                    await asyncio.sleep(self.reconnect_delay)
                    break
                message = self._next_message()
