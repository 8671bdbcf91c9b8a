"""Wake-ups between processes. The database is the source of truth: a message only says
"something new up to seq N on channel C", and subscribers read the rows themselves.

One broadcaster subscription per process fans out to local listeners, each a flag (no
per-subscriber queue, so a slow subscriber holds no memory). The listener is supervised: when
the broker connection drops it reconnects, then wakes every listener so it catches up from the
database."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Iterator

from broadcaster import Broadcast

from milestones.domain.transaction import Wakeup

logger = logging.getLogger(__name__)

TOPIC = "milestones"


class Listener:
    """A subscriber's doorbell: set when its channel may have something new."""

    __slots__ = ("channel", "event")

    def __init__(self, channel: str) -> None:
        self.channel = channel
        self.event = asyncio.Event()

    async def wait(self, at_most: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.event.wait(), at_most)
        self.event.clear()


class WakeupBus:
    def __init__(self, url: str, *, reconnect_delay: float = 0.5) -> None:
        self.url = url
        self.reconnect_delay = reconnect_delay
        self._listeners: dict[str, set[Listener]] = defaultdict(set)
        self._task: asyncio.Task[None] | None = None
        self._broadcast: Broadcast | None = None
        self._ready = asyncio.Event()
        self.reconnects = 0

    async def start(self) -> None:
        self._task = asyncio.create_task(self._supervise(), name="wakeup-bus")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), 5)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self._disconnect()

    async def _disconnect(self) -> None:
        if self._broadcast is not None:
            broadcast, self._broadcast = self._broadcast, None
            with contextlib.suppress(Exception):
                await broadcast.disconnect()

    async def _supervise(self) -> None:
        while True:
            try:
                broadcast = Broadcast(self.url)
                await broadcast.connect()
                self._broadcast = broadcast
                async with broadcast.subscribe(TOPIC) as subscriber:
                    self._ready.set()
                    self.wake_all()  # anything committed while we were away
                    async for message in subscriber:
                        if message is None:
                            raise ConnectionError("broker subscription ended")
                        self._dispatch(message.message)
                raise ConnectionError("broker subscription ended")
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("wake-up bus lost its broker; reconnecting", exc_info=True)
                self.reconnects += 1
                self._ready.clear()
                await self._disconnect()
                self.wake_all()
                await asyncio.sleep(self.reconnect_delay)

    def _dispatch(self, message: str) -> None:
        for channel in message.split():
            for listener in self._listeners.get(channel.rsplit(":", 1)[0], ()):
                listener.event.set()

    def wake_all(self) -> None:
        for listeners in self._listeners.values():
            for listener in listeners:
                listener.event.set()

    async def publish(self, wakeups: list[Wakeup]) -> None:
        message = " ".join(f"{w.channel}:{w.seq}" for w in wakeups)
        # Local listeners first: they need no broker round trip.
        self._dispatch(message)
        broadcast = self._broadcast
        if broadcast is None:
            return
        try:
            await broadcast.publish(TOPIC, message)
        except Exception:
            logger.warning("publishing a wake-up failed; peers catch up on their next poll")

    @contextlib.contextmanager
    def listen(self, channel: str) -> Iterator[Listener]:
        listener = Listener(channel)
        self._listeners[channel].add(listener)
        try:
            yield listener
        finally:
            listeners = self._listeners.get(channel)
            if listeners is not None:
                listeners.discard(listener)
                if not listeners:
                    del self._listeners[channel]

    @property
    def connected(self) -> bool:
        return self._broadcast is not None and self._ready.is_set()

    @property
    def listener_count(self) -> int:
        return sum(len(listeners) for listeners in self._listeners.values())
