"""Scenario 1: kill -9 of a server in the middle of a burst of keyed money moves.

Two instances on one database. Every contract funds and releases its milestones one keyed move
after the other, all contracts at once, every request to instance A first. When a third of the
moves are done A is killed with SIGKILL (transactions cut wherever they were, answers never
sent); the clients retry what got no answer, with the same key, on B; A is started again. Then
every move is sent once more, spread over the restarted A and B: each must answer exactly as it
first did. The ledger must hold each move once (`milestones check-invariants` agrees).
"""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import pytest

from tests.chaos.conftest import Row
from tests.chaos.harness import (
    Caller,
    Chains,
    MemoryWatch,
    Tally,
    audit_money,
    bounded,
    check_invariants,
    contracts,
    fleet,
    money_moves,
)
from tests.subscriptions.servers import RedisServer

CONTRACTS = 16
AMOUNTS = ["125.00", "80.50", "300.00"]

pytestmark = [pytest.mark.chaos, pytest.mark.postgres]


async def test_kill_9_mid_burst_loses_and_doubles_no_money(
    database: str, private_redis: RedisServer, tmp_path: Path, scoreboard: list[Row]
) -> None:
    row = Row("1 kill -9 during keyed money moves")
    scoreboard.append(row)
    tally = Tally()
    tag = secrets.token_hex(3)
    broker = f"redis://127.0.0.1:{private_redis.port}/0"
    async with fleet(database, broker, tmp_path / "logs", count=2) as servers:
        caller = Caller(servers, tally)
        rooms = await contracts(caller, CONTRACTS, tag, AMOUNTS)
        chains = Chains(caller)
        a = servers.nodes[0]
        total = CONTRACTS * len(AMOUNTS) * 2

        async def kill_and_restart() -> None:
            for _ in range(600):
                if chains.done >= total // 3:
                    break
                await asyncio.sleep(0.01)
            await servers.kill(a)
            await servers.start()

        async with MemoryWatch(servers) as memory:
            killer = asyncio.create_task(kill_and_restart())
            await bounded(
                asyncio.gather(
                    *(chains.run(money_moves(room, f"{tag}-{n}")) for n, room in enumerate(rooms))
                ),
                120,
                "the burst",
            )
            await bounded(killer, 60, "kill and restart")
            differences = await bounded(chains.replay_all(), 120, "the replays")
        audit = await audit_money(database, [room.id for room in rooms])
        breaches = await check_invariants(database)

    row.count(tally, memory.peak)
    row.lost = audit.lost
    row.doubled = audit.doubled
    row.problems += [f"refused: {refusal}" for refusal in chains.refusals[:3]]
    row.problems += [f"retry answered differently: {d}" for d in differences[:3]]
    row.problems += audit.breaches[:3] + breaches
    if a.process.returncode != -9:
        row.problems.append("instance A was not killed")
    print(f"\n{row.scenario}: {tally.transport_errors} requests without an answer, retried")
    row.check()
