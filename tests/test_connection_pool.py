"""The PostgreSQL pool takes a connection back without a reset round trip (`database`), and
nothing the app does leaves session state on a pooled connection for the next user."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest
from tortoise import connections
from tortoise.transactions import in_transaction

from milestones.database import database
from milestones.live.brokers import asyncpg_dsn
from milestones.pruning import ADVISORY_LOCK_KEY, _only_instance
from tests.subscriptions.servers import fresh_postgres_database

pytestmark = pytest.mark.postgres

RESET = "RESET ALL"
# A 64-bit advisory key shows in pg_locks as its high and low halves.
HELD = (
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1 AND granted"
    " AND (classid::bigint << 32 | objid::bigint) = $1"
)


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every simple-query statement any asyncpg connection sends (the pool's reset is one)."""
    statements: list[str] = []
    execute = asyncpg.connection.Connection.execute

    async def recording(self: asyncpg.Connection, query: str, *args: Any, **kwargs: Any) -> str:
        statements.append(query)
        return await execute(self, query, *args, **kwargs)  # type: ignore[no-any-return]

    monkeypatch.setattr(asyncpg.connection.Connection, "execute", recording)
    return statements


async def test_asyncpg_s_own_pool_resets_with_a_statement(
    postgres_url: str, sent: list[str]
) -> None:
    """What the next test would see if the app kept asyncpg's default."""
    async with fresh_postgres_database(postgres_url) as url:
        pool = await asyncpg.create_pool(asyncpg_dsn(url), min_size=1, max_size=1)
        try:
            await pool.fetchval("SELECT 1")
        finally:
            await pool.close()
    assert any(RESET in statement for statement in sent)


async def test_a_released_connection_is_sent_no_reset(postgres_url: str, sent: list[str]) -> None:
    async with fresh_postgres_database(postgres_url) as url, database(url):
        connection = connections.get("default")
        sent.clear()
        await connection.execute_query("SELECT 1")
        async with in_transaction() as transaction:
            await transaction.execute_query("SELECT 2")
        await connection.execute_query("SELECT 3")
        assert not [statement for statement in sent if RESET in statement], sent


async def test_a_transaction_left_open_is_still_rolled_back(postgres_url: str) -> None:
    async with fresh_postgres_database(postgres_url) as url, database(url):
        connection = connections.get("default")
        async with connection.acquire_connection() as raw:
            await raw.execute("BEGIN")
            await raw.execute("CREATE TEMP TABLE left_open (x int) ON COMMIT DROP")
        async with connection.acquire_connection() as raw:
            assert not raw.is_in_transaction()
            assert await raw.fetchval("SELECT to_regclass('pg_temp.left_open')") is None


async def test_the_pruning_lock_never_goes_back_to_the_pool_held(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with fresh_postgres_database(postgres_url) as url, database(url):
        observer = await asyncpg.connect(asyncpg_dsn(url))
        try:
            async with _only_instance(asyncio.Lock()) as mine:
                assert mine
                assert await observer.fetchval(HELD, ADVISORY_LOCK_KEY) == 1
            assert await observer.fetchval(HELD, ADVISORY_LOCK_KEY) == 0

            fetchval = asyncpg.connection.Connection.fetchval

            async def unlock_lost(self: asyncpg.Connection, query: str, *args: Any) -> Any:
                if "pg_advisory_unlock" in query:
                    raise ConnectionError("the unlock never reached the server")
                return await fetchval(self, query, *args)

            monkeypatch.setattr(asyncpg.connection.Connection, "fetchval", unlock_lost)
            with pytest.raises(ConnectionError):
                async with _only_instance(asyncio.Lock()) as mine:
                    assert mine
            monkeypatch.undo()
            # The connection that still held it was closed, not pooled: the lock is free.
            for _ in range(100):
                if await observer.fetchval(HELD, ADVISORY_LOCK_KEY) == 0:
                    break
                await asyncio.sleep(0.05)
            assert await observer.fetchval(HELD, ADVISORY_LOCK_KEY) == 0
            assert await connections.get("default").execute_query_dict("SELECT 1 AS one")
        finally:
            await observer.close()


async def test_the_pool_holds_at_most_the_configured_connections(postgres_url: str) -> None:
    """`DATABASE_POOL_SIZE` (`database(url, pool_size)`) bounds the pool; a URL's own
    `?maxsize=` wins."""
    async with fresh_postgres_database(postgres_url) as url:
        for database_url, expected in ((url, 3), (f"{url}?maxsize=2", 2)):
            async with database(database_url, pool_size=3):
                connection = connections.get("default")
                await connection.execute_query("SELECT 1")
                pool = connection._pool
                assert pool.get_max_size() == expected
                held = [await pool.acquire() for _ in range(expected)]
                with pytest.raises(TimeoutError):
                    await pool.acquire(timeout=0.2)
                for raw in held:
                    await pool.release(raw)
