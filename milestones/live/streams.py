"""Replay, then live: everything after the cursor from the database, then each new row as the
bus rings. Registering the listener before the first read leaves no gap at the seam: a commit
that the read misses rings the doorbell afterwards, and the next read picks it up.

Subscribers of one channel share a `Feed`: when a ring wakes ten thousand of them, one of them
reads the new rows and the others take them from memory. A subscriber that resumes a little
behind the window (a reconnect) extends it back once for everyone; one further behind than the
feed may hold (`FEED_KEEPS` rows: a replay) reads the database itself. Rows go out in
batches, so a slow subscriber holds at most one batch, never a growing queue.

A database read that fails is retried with backoff (the subscriber misses nothing: the cursor
has not moved); only an outage longer than the retry budget ends the stream, with
`ServiceUnavailable` (an `error` with code `SERVICE_UNAVAILABLE`, never a silent `complete`)."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from milestones.live.bus import WakeupBus
from milestones.models import Contract, ContractEvent, Notification, User
from milestones.observability.metrics import SUBSCRIPTION_READS
from milestones.schema.errors import AccessEnded, ServiceUnavailable

logger = logging.getLogger(__name__)

BATCH = 100
FEED_KEEPS = 256
# A missed wake-up costs at most this long: the database is polled anyway. While the broker
# is away, other instances' commits ring no bell at all, so poll more often.
SAFETY_POLL_SECONDS = 15.0
BROKER_DOWN_POLL_SECONDS = 2.0

# Retrying a failed read: the first wait, doubling up to the last (the budget is a setting).
RETRY_FIRST_SECONDS = 0.1
RETRY_MAX_SECONDS = 5.0
DEFAULT_RETRY_SECONDS = 30.0

R = TypeVar("R")
T = TypeVar("T")
Fetch = Callable[[int, int], Awaitable[list[R]]]  # (after seq, limit) -> rows in seq order


@dataclass(frozen=True, slots=True)
class Guard:
    """A subscriber's right to its stream, asked again whenever `channel` rings (their access
    shrank somewhere) and at each safety poll; once it answers False the stream ends with
    `AccessEnded`."""

    channel: str
    allowed: Callable[[], Awaitable[bool]]


@dataclass(slots=True)
class Item(Generic[R]):
    seq: int
    row: R


class Feed(Generic[R]):
    """The newest rows of one channel: all rows with base < seq <= last, as of ring `synced`."""

    def __init__(self, fetch: Fetch[R], seq_of: Callable[[R], int]) -> None:
        self.fetch = fetch
        self.seq_of = seq_of
        self.items: list[Item[R]] = []
        self.base: int | None = None
        self.last = 0
        self.synced = -1
        self.synced_at = 0.0
        self.lock = asyncio.Lock()

    def _covers(self, after: int, ring: int, read_since: float) -> bool:
        return (
            self.base is not None
            and self.base <= after
            and self.synced >= ring
            and self.synced_at >= read_since
        )

    async def _reach_back(self, after: int) -> bool:
        """Extend the window back to `after`, if it may hold the rows in between: a reader a
        few rows behind (a socket resuming with its cursor) then shares the window like the
        rest, so a reconnect storm reads the database once per row missing, not once per
        socket. False (nothing read): more rows than the window keeps."""
        assert self.base is not None
        missing = self.base - after  # at most this many rows: seqs only grow
        if missing + len(self.items) > FEED_KEEPS:
            return False
        base = self.base
        SUBSCRIPTION_READS.labels("shared").inc()
        older = [row for row in await self.fetch(after, missing) if self.seq_of(row) <= base]
        self.items[:0] = [Item(self.seq_of(row), row) for row in older]
        self.base = after
        return True

    def _slice(self, after: int) -> list[R]:
        return [item.row for item in self.items if item.seq > after][:BATCH]

    async def after(
        self, after: int, ring: int, current_ring: Callable[[], int], read_since: float = 0.0
    ) -> list[R]:
        """Up to BATCH rows with seq > `after`, from a read that began after ring `ring` and
        at or after the monotonic time `read_since` (a safety poll asks for a recent read)."""
        if self._covers(after, ring, read_since):
            return self._slice(after)
        async with self.lock:
            if self._covers(after, ring, read_since):
                return self._slice(after)
            if self.base is None:
                self.base = self.last = after
            elif after < self.base:
                if not await self._reach_back(after):
                    # A replay from further back than the feed may hold: its own read.
                    SUBSCRIPTION_READS.labels("replay").inc()
                    return await self.fetch(after, BATCH)
                if self._covers(after, ring, read_since):
                    return self._slice(after)
            # Rings after this point may mean rows this read does not see: they stay unsynced.
            ringing = current_ring()
            reading_at = time.monotonic()
            SUBSCRIPTION_READS.labels("shared").inc()
            rows = await self.fetch(self.last, BATCH)
            for row in rows:
                self.items.append(Item(self.seq_of(row), row))
            if rows:
                self.last = self.items[-1].seq
            if len(rows) < BATCH:
                self.synced = ringing
                self.synced_at = reading_at
            # The caller's rows before trimming: a reader behind the others (a replay) would
            # otherwise lose the rows between its `after` and the new base.
            rows_after = self._slice(after)
            if len(self.items) > FEED_KEEPS:
                dropped = self.items[: len(self.items) - FEED_KEEPS]
                self.items = self.items[len(dropped) :]
                self.base = dropped[-1].seq
            return rows_after


async def retrying(read: Callable[[], Awaitable[T]], budget: float) -> T:
    """`read()`, again after a failure (reads are idempotent) until `budget` seconds are spent."""
    deadline = time.monotonic() + budget
    delay = RETRY_FIRST_SECONDS
    while True:
        try:
            return await read()
        except Exception as error:
            if time.monotonic() + delay > deadline:
                logger.error("a subscription's database reads kept failing: %r", error)
                raise ServiceUnavailable() from error
            logger.warning(
                "a subscription's database read failed (%s: %s); retrying in %.1fs",
                type(error).__name__,
                error,
                delay,
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_SECONDS)


def _poll_interval(bus: WakeupBus) -> float:
    return SAFETY_POLL_SECONDS if bus.connected or not bus.remote else BROKER_DOWN_POLL_SECONDS


async def _follow(
    bus: WakeupBus,
    channel: str,
    start: Callable[[], Awaitable[int]],
    fetch: Fetch[R],
    seq_of: Callable[[R], int],
    after_seq: int | None,
    retry_seconds: float,
    guard: Guard | None = None,
) -> AsyncIterator[R]:
    also = (guard.channel,) if guard is not None else ()
    with bus.listen(channel, *also) as listener:
        if after_seq is None:
            after_seq = await retrying(start, retry_seconds)
        feed: Feed[R] = bus.shared(channel, lambda: Feed(fetch, seq_of))
        read_since = 0.0
        checked = bus.rings(guard.channel) if guard is not None else 0
        while True:
            if guard is not None and (read_since or bus.rings(guard.channel) != checked):
                checked = bus.rings(guard.channel)
                if not await retrying(guard.allowed, retry_seconds):
                    raise AccessEnded()
            rows = await retrying(
                functools.partial(
                    feed.after,
                    after_seq,
                    bus.rings(channel),
                    lambda: bus.rings(channel),
                    read_since,
                ),
                retry_seconds,
            )
            for row in rows:
                after_seq = seq_of(row)
                yield row
            if len(rows) < BATCH:
                rang = await listener.wait(_poll_interval(bus))
                # Silence: poll the database, sharing any read begun in the last second.
                read_since = 0.0 if rang else time.monotonic() - 1.0


async def contract_events(
    bus: WakeupBus,
    contract_pk: int,
    after_seq: int | None,
    known_seq: int | None = None,
    retry_seconds: float = DEFAULT_RETRY_SECONDS,
    guard: Guard | None = None,
) -> AsyncIterator[ContractEvent]:
    """`known_seq`: the contract's event_seq as read when the subscription began, if it was."""

    async def start() -> int:
        if known_seq is not None:
            return known_seq
        contract = await Contract.get(id=contract_pk)
        return int(contract.event_seq)

    async def fetch(after: int, limit: int) -> list[ContractEvent]:
        return list(
            await ContractEvent.filter(contract_id=contract_pk, seq__gt=after)
            .order_by("seq")
            .limit(limit)
        )

    async for row in _follow(
        bus,
        f"contract:{contract_pk}",
        start,
        fetch,
        lambda row: row.seq,
        after_seq,
        retry_seconds,
        guard,
    ):
        yield row


async def notifications(
    bus: WakeupBus,
    viewer_pk: int,
    after_seq: int | None,
    retry_seconds: float = DEFAULT_RETRY_SECONDS,
) -> AsyncIterator[Notification]:
    async def start() -> int:
        user = await User.get(id=viewer_pk)
        return int(user.notification_seq)

    async def fetch(after: int, limit: int) -> list[Notification]:
        return list(
            await Notification.filter(recipient_id=viewer_pk, seq__gt=after)
            .order_by("seq")
            .limit(limit)
        )

    async for row in _follow(
        bus, f"user:{viewer_pk}", start, fetch, lambda row: row.seq, after_seq, retry_seconds
    ):
        yield row
