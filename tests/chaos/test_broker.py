"""Scenario 2: the broker (Redis) down, then frozen.

Two instances whose only way to Redis (a private redis-server) is a TCP proxy the test holds.
A subscriber to `notifications` listens on instance B while the client acts on instance A.
The wire is cut (connections dropped, new ones refused), then restored, then frozen (open but
silent, like a hung broker), then restored. Throughout, every query and mutation must answer
at once (the database is the truth, the broker only rings doorbells), and once the broker is
back the subscriber must have every notification the database holds, each once, whether it
was woken or came back with its last cursor.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from pathlib import Path

import httpx
import pytest

from tests.chaos.conftest import Row
from tests.chaos.harness import (
    EDIT,
    JSON,
    Caller,
    Contract,
    Feed,
    Link,
    MemoryWatch,
    Node,
    Refused,
    ServerFailure,
    Tally,
    bounded,
    contracts,
    fleet,
    newest_cursor,
    notification_ids,
)
from tests.subscriptions.servers import RedisServer

ROOM = "query Room($id: ID!) { contract(id: $id) { id escrow { held } milestones { title } } }"
PER_PHASE = 8
CATCH_UP_SECONDS = 25.0

pytestmark = [pytest.mark.chaos, pytest.mark.postgres]


async def _phase(
    caller: Caller, a: Node, b: Node, room: Contract, label: str, seconds: float
) -> list[str]:
    """PER_PHASE edits on A, with a query on each instance after each, spread over about
    `seconds`: what failed."""
    failures = []
    for number in range(PER_PHASE):
        await asyncio.sleep(seconds / PER_PHASE)
        calls: list[tuple[Node, str, str, JSON]] = [
            (a, room.client, EDIT, {"input": {"milestoneId": room.milestone_ids[0],
                                              "title": f"{label} {number}"}}),
            (a, room.client, ROOM, {"id": room.id}),
            (b, room.freelancer, ROOM, {"id": room.id}),
        ]  # fmt: skip
        for node, bearer, document, variables in calls:
            try:
                data = await caller.post(node, bearer, document, variables)
            except (httpx.HTTPError, ServerFailure, Refused) as error:
                failures.append(f"{label}: {type(error).__name__}: {error}"[:200])
                continue
            if "editMilestone" in data and data["editMilestone"]["userErrors"]:
                failures.append(f"{label}: {data['editMilestone']['userErrors']}")
    return failures


async def test_broker_down_and_frozen_loses_no_request_and_no_notification(
    database: str, private_redis: RedisServer, tmp_path: Path, scoreboard: list[Row]
) -> None:
    row = Row("2 broker down, then frozen")
    scoreboard.append(row)
    tally = Tally()
    link = await Link(private_redis.port).start()
    try:
        broker = f"redis://127.0.0.1:{link.port}/0"
        async with fleet(database, broker, tmp_path / "logs", count=2) as servers:
            a, b = servers.nodes
            caller = Caller(servers, tally)
            [room] = await contracts(caller, 1, secrets.token_hex(3), ["50.00"])
            feed = Feed(lambda: [b, a], room.freelancer)
            async with MemoryWatch(servers) as memory:
                # Subscribed after the newest notification: everything from now on is due.
                earlier = await notification_ids(caller, room.freelancer)
                feed.start(after=await newest_cursor(caller, room.freelancer))
                await bounded(feed.subscribed.wait(), 15, "subscribing")
                failures = []
                # The frozen phase outlasts the bus's silence limit (3 heartbeats, 6 s).
                for label, fault, seconds in (
                    ("before", link.restore, 1.0),
                    ("broker down", link.cut, 4.0),
                    ("broker back", link.restore, 2.0),
                    ("broker frozen", link.freeze, 8.0),
                    ("broker thawed", link.restore, 1.0),
                ):
                    fault()
                    began = time.monotonic()
                    failures += await _phase(caller, a, b, room, label, seconds)
                    print(f"\n{label}: {time.monotonic() - began:.1f}s")
                wanted = await notification_ids(caller, room.freelancer) - earlier
                missing = await feed.until_seen(wanted, CATCH_UP_SECONDS)
                await feed.stop()
    finally:
        await link.stop()

    row.count(tally, memory.peak)
    row.lost = len(missing) + len(failures)
    row.doubled = feed.duplicates
    row.problems += failures[:3]
    row.problems += [f"subscriber got an error: {error}" for error in feed.errors[:2]]
    if missing:
        row.problems.append(
            f"{len(missing)} of {len(wanted)} notifications never reached B's subscriber"
        )
    print(f"\n{row.scenario}: subscriber reconnected {len(feed.closes)} times: {feed.closes[:3]}")
    row.check()
