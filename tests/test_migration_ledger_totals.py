"""Migration 0016_ledger_totals fills the contract's running sums from the ledger as it stands:
a database made at 0015 with money in its ledger is migrated to the head the way
`milestones serve` does it (`database`), and the sums are the ledger's (and the invariant
checker, which compares them, finds nothing)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from tortoise import connections

from milestones.database import database
from milestones.invariants import check_invariants
from tests.databases import migrated_up_to
from tests.subscriptions.servers import fresh_postgres_database

T0 = dt.datetime(2026, 11, 2, 9, 30, tzinfo=dt.UTC)

# Contract 1: 300 deposited, milestone 1 (100) allocated and released, milestone 2 (150)
# allocated and 50 of it refunded, a bonus of 20. Contract 2: no money.
ROWS = [
    "INSERT INTO users (id, sub, notification_seq, created_at, updated_at) "
    "VALUES (1, 'cleo', 0, {t}, {t}), (2, 'fred', 0, {t}, {t})",
    "INSERT INTO contracts (id, title, currency, status, event_seq, created_at, client_id, "
    "freelancer_id, accepted_at) VALUES (1, 'Site', 'USD', 'ACTIVE', 0, {t}, 1, 2, {t}), "
    "(2, 'Logo', 'USD', 'ACTIVE', 0, {t}, 1, 2, {t})",
    "INSERT INTO milestones (id, contract_id, position, title, amount, status, version, "
    "created_at, updated_at) VALUES (1, 1, 1, 'One', 100, 'RELEASED', 1, {t}, {t}), "
    "(2, 1, 2, 'Two', 150, 'REFUNDED', 1, {t}, {t})",
    "INSERT INTO ledger_entries (contract_id, milestone_id, kind, amount, created_at) VALUES "
    "(1, NULL, 'DEPOSIT', 300, {t}), (1, 1, 'ALLOCATE', 100, {t}), (1, 1, 'RELEASE', 100, {t}), "
    "(1, 2, 'ALLOCATE', 150, {t}), (1, 2, 'REFUND', 150, {t}), (1, NULL, 'REFUND', 50, {t}), "
    "(1, 1, 'BONUS', 20, {t})",
]


async def _database_at_0015(url: str) -> None:
    async with migrated_up_to(url, "0015_bigkeys") as connection:
        postgres = connection.capabilities.dialect == "postgres"
        for statement in ROWS:  # the one time: $1 each time on PostgreSQL, ? once each on SQLite
            sql = statement.format(t="$1" if postgres else "?")
            await connection.execute_query(sql, [T0] if postgres else [T0] * sql.count("?"))


async def _migrated_sums(url: str) -> None:
    await _database_at_0015(url)
    async with database(url):
        rows = await connections.get("default").execute_query_dict(
            "SELECT id, ledger_deposited, ledger_released, ledger_refunded, ledger_bonus "
            "FROM contracts ORDER BY id"
        )
        assert [tuple(row.values()) for row in rows] == [(1, 300, 100, 200, 20), (2, 0, 0, 0, 0)]
        breaches = (await check_invariants()).breaches
        assert [b for b in breaches if b.rule == "running sums equal the ledger"] == []


async def test_the_running_sums_are_filled_on_sqlite(tmp_path: Path) -> None:
    await _migrated_sums(f"sqlite:///{tmp_path / 'old.sqlite3'}")


@pytest.mark.postgres
async def test_the_running_sums_are_filled_on_postgres(postgres_url: str) -> None:
    async with fresh_postgres_database(postgres_url, migrated=False) as url:
        await _migrated_sums(url)
