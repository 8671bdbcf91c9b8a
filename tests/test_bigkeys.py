"""Ever-growing tables have 64-bit keys (migration 0015_bigkeys).

On PostgreSQL the key columns, the columns pointing at them and their sequences are BIGINT (a
`SERIAL` sequence stops at 2^31 - 1 whatever its column's type); the API keeps working with
ids past 32 bits: ids, cursors, pagination, node(). SQLite's `INTEGER PRIMARY KEY` is a 64-bit
rowid already, so the API test runs on PostgreSQL only.
"""

from __future__ import annotations

import asyncpg
import pytest
from tortoise import connections

from milestones.database import database
from milestones.live.brokers import asyncpg_dsn
from tests.conftest import is_postgres_url, test_database_url
from tests.helpers import (
    Actor,
    create_contract_with_milestones,
    notification_nodes,
    notifications,
    read_room,
)
from tests.subscriptions.servers import fresh_postgres_database

KEYED = (
    "contract_events",
    "notifications",
    "ledger_entries",
    "email_outbox",
    "webhook_deliveries",
    "idempotency_records",
)
POINTERS = (
    ("notifications", "event_id"),
    ("email_outbox", "notification_id"),
    ("webhook_deliveries", "notification_id"),
)
PAST_32_BITS = 2**31 + 1000


@pytest.mark.postgres
async def test_keys_and_sequences_are_64_bit_on_postgres(postgres_url: str) -> None:
    async with fresh_postgres_database(postgres_url, migrated=False) as url:
        async with database(url):
            pass
        connection = await asyncpg.connect(asyncpg_dsn(url))
        try:
            columns = [(table, "id") for table in KEYED] + list(POINTERS)
            for table, column in columns:
                kind = await connection.fetchval(
                    "SELECT data_type FROM information_schema.columns "
                    "WHERE table_name = $1 AND column_name = $2",
                    table,
                    column,
                )
                assert kind == "bigint", (table, column, kind)
            for table in KEYED:
                kind = await connection.fetchval(
                    "SELECT data_type FROM pg_sequences WHERE sequencename = $1",
                    f"{table}_id_seq",
                )
                assert kind == "bigint", (table, kind)
            # The users table is not ever-growing in that sense: it keeps its 32-bit key.
            assert (
                await connection.fetchval(
                    "SELECT data_type FROM information_schema.columns "
                    "WHERE table_name = 'users' AND column_name = 'id'"
                )
                == "integer"
            )
        finally:
            await connection.close()


async def test_the_api_works_with_ids_past_32_bits(client: Actor, freelancer: Actor) -> None:
    if not is_postgres_url(test_database_url()):
        pytest.skip("SQLite rowids are 64-bit already; this runs in `make test-postgres`")
    connection = connections.get("default")
    for table in KEYED:
        await connection.execute_query(f"SELECT setval('{table}_id_seq', {PAST_32_BITS})")

    room = await create_contract_with_milestones(client, freelancer, ["100.00", "50.00"])
    await room.activate(0)
    await room.submit(0)
    await room.approve(0, release="60.00")

    first = await notifications(freelancer, first=1)
    rest = await notifications(freelancer, first=10, after=first["pageInfo"]["endCursor"])
    seen = [edge["node"]["id"] for edge in first["edges"] + rest["edges"]]
    every = [node["id"] for node in await notification_nodes(freelancer)]
    assert seen == every and len(set(seen)) == len(seen) >= 2
    node = await freelancer.gql("query($id: ID!) { node(id: $id) { id } }", {"id": seen[0]})
    assert node["node"]["id"] == seen[0]

    room_data = await read_room(client, room.contract_id)
    assert room_data["escrow"]["totalReleased"] == "60.00"
    rows = await connection.execute_query_dict(
        "SELECT min(id) AS low FROM contract_events WHERE contract_id IN (SELECT id FROM contracts)"
    )
    assert rows[0]["low"] > 2**31
