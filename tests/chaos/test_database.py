"""Scenario 3: the database's backends terminated under load (`pg_terminate_backend`).

Two instances in production mode on one database. While keyed mutations run from many clients
at once, every connection the servers hold to the test database is terminated, again and
again. Clients retry a server failure (or no answer) with the same key. Nothing may answer
with internals (driver messages, SQL, tracebacks), nothing may be half-written (ledger and
event log agree; `milestones check-invariants`), each keyed move happens exactly once, and
each retried request answers as the first did.

3a runs the money moves (keyed since the first part); 3b every other mutation with an
`idempotencyKey` (issue 10 item 13: on a dropped connection after commit, a retry without a
key created a duplicate).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest

from milestones.live.brokers import asyncpg_dsn
from tests.chaos.conftest import Row
from tests.chaos.harness import (
    ADD,
    EDIT,
    Caller,
    Chains,
    Contract,
    KeyedCall,
    MemoryWatch,
    Tally,
    audit_money,
    bounded,
    check_invariants,
    contracts,
    fetch,
    fleet,
    money_moves,
)
from tests.conftest import test_postgres_url
from tests.subscriptions.servers import RedisServer

CONTRACTS = 12
AMOUNTS = ["90.00", "45.25", "210.00"]
ROUNDS = 20  # terminations at most, one every PAUSE seconds while the burst runs
PAUSE = 0.3

pytestmark = [pytest.mark.chaos, pytest.mark.postgres]


class Terminator:
    """Terminates every backend of one database but its own, round after round."""

    def __init__(self, database_url: str) -> None:
        self.database = urlsplit(database_url).path.lstrip("/")
        self.terminated = 0
        self.rounds = 0

    async def run(self) -> None:
        admin = await asyncpg.connect(asyncpg_dsn(test_postgres_url()), timeout=10)
        try:
            for _ in range(ROUNDS):
                rows = await admin.fetch(
                    "SELECT pg_terminate_backend(pid) AS done FROM pg_stat_activity"
                    " WHERE datname = $1 AND pid <> pg_backend_pid()",
                    self.database,
                )
                self.terminated += sum(1 for row in rows if row["done"])
                self.rounds += 1
                await asyncio.sleep(PAUSE)
        finally:
            await admin.close()


async def _under_terminations(chains: Chains, plans: list[list[KeyedCall]], database: str) -> int:
    terminator = Terminator(database)
    task = asyncio.create_task(terminator.run())
    try:
        await bounded(
            asyncio.gather(*(chains.run(plan, prefer=n) for n, plan in enumerate(plans))),
            150,
            "the burst",
        )
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return terminator.terminated


def _other_mutations(room: Contract, tag: str) -> list[KeyedCall]:
    """Add two milestones and edit one, every call keyed."""
    calls = []
    for number in range(2):
        calls.append(
            KeyedCall(
                room.client,
                ADD,
                "addMilestone",
                {
                    "input": {
                        "contractId": room.id,
                        "title": f"Extra {tag} {number}",
                        "amount": "15.00",
                        "idempotencyKey": f"{tag}-add-{number}",
                    }
                },
            )
        )
    calls.append(
        KeyedCall(
            room.client,
            EDIT,
            "editMilestone",
            {
                "input": {
                    "milestoneId": room.milestone_ids[0],
                    "title": f"Edited {tag}",
                    "idempotencyKey": f"{tag}-edit",
                }
            },
        )
    )
    return calls


async def test_terminated_backends_leak_nothing_and_move_money_once(
    database: str, private_redis: RedisServer, tmp_path: Path, scoreboard: list[Row]
) -> None:
    money = Row("3a database backends terminated: money moves")
    others = Row("3b database backends terminated: other keyed mutations")
    scoreboard += [money, others]
    tag = secrets.token_hex(3)
    broker = f"redis://127.0.0.1:{private_redis.port}/0"
    started = time.monotonic()
    async with fleet(database, broker, tmp_path / "logs", count=2) as servers:
        print(f"\n3: servers up after {time.monotonic() - started:.1f}s")
        money_tally, other_tally = Tally(), Tally()
        async with MemoryWatch(servers) as memory:
            rooms = await contracts(Caller(servers, Tally()), CONTRACTS, tag, AMOUNTS)
            money_chains = Chains(Caller(servers, money_tally))
            terminated = await _under_terminations(
                money_chains,
                [money_moves(room, f"{tag}-{n}") for n, room in enumerate(rooms)],
                database,
            )
            money_differences = await bounded(money_chains.replay_all(), 120, "replays")
            extra_rooms = await contracts(Caller(servers, Tally()), CONTRACTS, f"x{tag}", ["5"])
            other_chains = Chains(Caller(servers, other_tally))
            terminated_too = await _under_terminations(
                other_chains,
                [_other_mutations(room, f"{tag}-{n}") for n, room in enumerate(extra_rooms)],
                database,
            )
            other_differences = await bounded(other_chains.replay_all(), 120, "replays")
        audit = await audit_money(database, [room.id for room in rooms])
        added = await fetch(
            database,
            "SELECT title, count(*) AS n FROM milestones"
            " WHERE title LIKE $1 AND deleted_at IS NULL GROUP BY title",
            f"Extra {tag}-%",
        )
        edited = await fetch(
            database,
            "SELECT count(*) AS n FROM contract_events e JOIN milestones m"
            " ON m.id = e.milestone_id WHERE e.kind = 'MILESTONE_EDITED' AND m.title LIKE $1",
            f"Edited {tag}-%",
        )
        breaches = await check_invariants(database)

    print(
        f"\n3: {time.monotonic() - started:.1f}s,"
        f" {terminated} + {terminated_too} backends terminated;"
        f" {money_tally.server_errors + other_tally.server_errors} server failures retried"
    )
    for row, tally, chains, differences in (
        (money, money_tally, money_chains, money_differences),
        (others, other_tally, other_chains, other_differences),
    ):
        row.count(tally, memory.peak)
        row.problems += [f"refused: {refusal}" for refusal in chains.refusals[:1]]
        row.problems += [f"retry answered differently: {d}" for d in differences[:1]]
        row.problems += breaches
    money.lost, money.doubled = audit.lost, audit.doubled
    money.problems += audit.breaches[:3]
    counts = {record["title"]: record["n"] for record in added}
    for n in range(CONTRACTS):
        for number in range(2):
            count = counts.get(f"Extra {tag}-{n} {number}", 0)
            others.lost += count == 0
            others.doubled += max(count - 1, 0)
    edits = edited[0]["n"]
    others.lost += max(CONTRACTS - edits, 0)
    others.doubled += max(edits - CONTRACTS, 0)
    if terminated == 0:
        money.problems.append("no backend was terminated during the burst")
    money.check()
    others.check()
