"""The wake-up bus against real brokers: delivery between buses, and recovery when the broker
connection is killed (each bus names its connections, so only ours are killed)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import pytest
from redis import asyncio as aioredis

from milestones.domain.transaction import Wakeup
from milestones.live.brokers import asyncpg_dsn, client_name
from milestones.live.bus import Listener, WakeupBus
from tests.conftest import test_redis_url

RECOVERY_SECONDS = 5.0


@asynccontextmanager
async def running(url: str) -> AsyncIterator[WakeupBus]:
    bus = WakeupBus(url, heartbeat_seconds=0.5, reconnect_delay=0.1)
    await bus.start()
    try:
        assert bus.connected, f"bus did not connect to {url}"
        yield bus
    finally:
        await bus.stop()


async def rung(listener: Listener, within: float = 2.0) -> bool:
    try:
        await asyncio.wait_for(listener.event.wait(), within)
    except TimeoutError:
        return False
    listener.event.clear()
    return True


async def until(condition: object, within: float = RECOVERY_SECONDS) -> None:
    deadline = time.monotonic() + within
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_memory_bus_rings_local_listeners_and_not_others() -> None:
    async with running("memory://") as bus:
        with bus.listen("contract:1") as one, bus.listen("contract:2") as two:
            await bus.publish([Wakeup("contract:1", 5)])
            assert await rung(one)
            assert not await rung(two, 0.1)


async def _exchange(publisher: WakeupBus, subscriber: WakeupBus) -> None:
    with subscriber.listen("user:7") as listener:
        await publisher.publish([Wakeup("user:7", 1)])
        assert await rung(listener), "a wake-up from another bus did not arrive"


@pytest.mark.redis
async def test_redis_connection_killed_the_bus_reconnects_and_wakes_everyone(
    redis_url: str,
) -> None:
    url = test_redis_url(scratch=1)
    async with running(url) as publisher, running(url) as subscriber:
        await _exchange(publisher, subscriber)
        with subscriber.listen("contract:3") as listener:
            listener.event.clear()
            before = subscriber.reconnects
            redis = aioredis.Redis.from_url(url)
            try:
                prefix = client_name(subscriber.sender)
                killed = 0
                for client in await redis.client_list():
                    if client["name"].startswith(prefix):
                        await redis.client_kill_filter(_id=client["id"])
                        killed += 1
                assert killed
            finally:
                await redis.aclose()
            # Everyone is woken to catch up from the database, and wake-ups flow again.
            assert await rung(listener, RECOVERY_SECONDS)
            await until(lambda: subscriber.connected and subscriber.reconnects > before)
        await _exchange(publisher, subscriber)


@pytest.mark.postgres
async def test_postgres_listen_connection_terminated_the_bus_reconnects(
    postgres_url: str,
) -> None:
    async with running(postgres_url) as publisher, running(postgres_url) as subscriber:
        await _exchange(publisher, subscriber)
        with subscriber.listen("contract:3") as listener:
            listener.event.clear()
            before = subscriber.reconnects
            connection = await asyncpg.connect(asyncpg_dsn(postgres_url))
            try:
                terminated = await connection.fetchval(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE application_name LIKE $1",
                    f"{client_name(subscriber.sender)}%"[:63] + "%",
                )
                assert terminated
            finally:
                await connection.close()
            assert await rung(listener, RECOVERY_SECONDS)
            await until(lambda: subscriber.connected and subscriber.reconnects > before)
        await _exchange(publisher, subscriber)


@pytest.mark.redis
async def test_wakeups_published_while_the_broker_is_unreachable_become_a_wake_all(
    redis_url: str,
) -> None:
    """Publishing never blocks the action; what could not be sent wakes everyone later."""
    url = test_redis_url(scratch=1)
    async with running(url) as publisher, running(url) as subscriber:
        with subscriber.listen("contract:9") as listener:
            # Stand-in for an outage: the publisher's backlog overflows while it is cut off.
            publisher.max_pending = 2
            broadcast, publisher._broadcast = publisher._broadcast, None
            started = time.monotonic()
            for seq in range(5):
                await publisher.publish([Wakeup("user:1", seq)])
            assert time.monotonic() - started < 0.1
            listener.event.clear()
            publisher._broadcast = broadcast
            publisher._pending_ready.set()
            assert await rung(listener), "the owed wake-all did not arrive"
