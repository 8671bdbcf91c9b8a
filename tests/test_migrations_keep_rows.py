"""Migrating a SQLite database keeps every row: a migration that alters a column rebuilds the
table, and with foreign keys on, dropping the old table deleted the rows pointing at it (the
notifications of every event, by ON DELETE CASCADE, when 0007 rebuilt `contract_events`).

A database made at 0006 (before the first such rebuild) with a contract, an event and its
notification is migrated to the head the way `milestones serve` does it (`database`), and the
notification is still there and still points at its event.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from tortoise import connections

from milestones.database import database
from tests.databases import migrated_up_to

T0 = dt.datetime(2026, 11, 2, 9, 30, tzinfo=dt.UTC)


async def _database_at_0006(url: str) -> None:
    async with migrated_up_to(url, "0006_unread_index") as connection:
        for statement, values in [
            (
                "INSERT INTO users (id, sub, notification_seq, created_at, updated_at) "
                "VALUES (1, 'cleo', 0, ?, ?), (2, 'fred', 1, ?, ?)",
                [T0, T0, T0, T0],
            ),
            (
                "INSERT INTO contracts (id, title, currency, status, event_seq, created_at, "
                "client_id, freelancer_id) VALUES (1, 'Site', 'USD', 'ACTIVE', 1, ?, 1, 2)",
                [T0],
            ),
            (
                "INSERT INTO contract_events (id, contract_id, seq, kind, actor_id, occurred_at) "
                "VALUES (1, 1, 1, 'CONTRACT_CREATED', 1, ?)",
                [T0],
            ),
            (
                "INSERT INTO notifications (id, recipient_id, seq, event_id, kind, contract_id, "
                "actor_id, message, created_at) "
                "VALUES (1, 2, 1, 1, 'CONTRACT_CREATED', 1, 1, 'Cleo offered you Site.', ?)",
                [T0],
            ),
        ]:
            await connection.execute_query(statement, values)


async def test_migrating_a_sqlite_database_keeps_the_notifications(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    await _database_at_0006(url)
    async with database(url):
        connection = connections.get("default")
        rows = await connection.execute_query_dict(
            "SELECT n.id, n.event_id, e.kind FROM notifications AS n "
            "JOIN contract_events AS e ON e.id = n.event_id"
        )
        assert rows == [{"id": 1, "event_id": 1, "kind": "CONTRACT_CREATED"}]
        assert await connection.execute_query_dict("PRAGMA foreign_keys") == [{"foreign_keys": 1}]
