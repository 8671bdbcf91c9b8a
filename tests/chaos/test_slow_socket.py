"""Scenario 5: a socket that never reads.

The freelancer holds two sockets on one instance: a normal subscriber that reads, and a bare
socket with a tiny receive buffer that subscribes to `notifications`, sends QUERIES large
queries over the socket (4.5 MB of results each: strawberry's own frames, issue 10 item 4) and
then reads nothing while the client makes EVENTS edits. Meanwhile:
- the server's memory (VmRSS from /proc) may grow by less than MAX_GROWTH_MB;
- the normal subscriber gets every notification (it is not held up by the stalled one);
- afterwards the stalled socket reads again: either everything it subscribed to is there, or
  the server closed it, and a new subscription after the last cursor it saw brings the rest.
Nothing lost, nothing twice.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from pathlib import Path

import pytest

from tests.chaos.conftest import Row
from tests.chaos.harness import (
    EDIT,
    NOTIFICATIONS,
    Caller,
    Closed,
    Feed,
    MemoryWatch,
    StalledSocket,
    Tally,
    bounded,
    contracts,
    fleet,
    newest_cursor,
    notification_ids,
)

MILESTONES = 60
DESCRIPTION = "x" * 5000
ALIASES = 15  # the default MAX_ALIASES
# 19 results of ALIASES x MILESTONES x 5,000 characters, 4.5 MB each: about 85 MB unread.
# With the notification subscription that is MAX_SUBSCRIPTIONS_PER_CONNECTION (20) operations.
QUERIES = 19
EVENTS = 60
MAX_GROWTH_MB = 50
BIG = (
    "query Big($id: ID!) { "
    + " ".join(
        f"a{n}: contract(id: $id) {{ milestones {{ description }} }}" for n in range(ALIASES)
    )
    + " }"
)
SMALL_FRAME = 64 * 1024  # notification frames are small; query results are not parsed

pytestmark = [pytest.mark.chaos, pytest.mark.postgres]


async def _drain(
    stalled: StalledSocket, wanted: set[str], within: float
) -> tuple[list[str], str | None, int | None, int]:
    """Read what the stalled socket was sent: (notification ids, last cursor, close code or
    None while open, query results)."""
    ids: list[str] = []
    cursor: str | None = None
    results = 0
    deadline = time.monotonic() + within
    try:
        while time.monotonic() < deadline and not (wanted <= set(ids) and results >= QUERIES):
            try:
                _, payload = await asyncio.wait_for(
                    stalled.frame(), max(deadline - time.monotonic(), 0.1)
                )
            except TimeoutError:
                break
            if len(payload) > SMALL_FRAME:
                results += 1
                continue
            message = json.loads(payload)
            if message.get("id") == "n" and message.get("type") == "next":
                item = message["payload"]["data"]["notifications"]
                ids.append(item["id"])
                cursor = item["cursor"]
            elif message.get("type") == "next":
                results += 1
            elif message.get("type") != "complete":
                print("stalled socket got", payload[:200])
    except Closed as closed:
        return ids, cursor, closed.code if closed.code is not None else -1, results
    return ids, cursor, None, results


async def test_a_socket_that_never_reads_costs_bounded_memory_and_loses_nothing(
    database: str, tmp_path: Path, scoreboard: list[Row]
) -> None:
    row = Row("5 a socket that never reads")
    scoreboard.append(row)
    tally = Tally()
    async with fleet(database, "memory://", tmp_path / "logs", count=1) as servers:
        [node] = servers.nodes
        caller = Caller(servers, tally)
        [room] = await contracts(
            caller, 1, secrets.token_hex(3), ["10.00"] * MILESTONES, description=DESCRIPTION
        )
        await caller.answered(room.client, BIG, {"id": room.id})  # warm: code paths, caches
        earlier = await notification_ids(caller, room.freelancer)
        after = await newest_cursor(caller, room.freelancer)
        reader = Feed(lambda: [node], room.freelancer)
        reader.start(after=after)
        stalled = await StalledSocket.open(node.port, room.freelancer)
        try:
            await stalled.send(
                {"id": "n", "type": "subscribe",
                 "payload": {"query": NOTIFICATIONS, "variables": {"after": after}}}
            )  # fmt: skip
            await bounded(reader.subscribed.wait(), 15, "subscribing")
            await asyncio.sleep(0.5)
            async with MemoryWatch(servers) as memory:
                baseline = memory.sample()
                for number in range(QUERIES):
                    sent = await stalled.send(
                        {"id": f"q{number}", "type": "subscribe",
                         "payload": {"query": BIG, "variables": {"id": room.id}}}
                    )  # fmt: skip
                    if not sent:  # closed by the server already: what it sent is still there
                        break
                for number in range(EVENTS):
                    data = await caller.answered(
                        room.client,
                        EDIT,
                        {"input": {"milestoneId": room.milestone_ids[0], "title": f"E{number}"}},
                    )
                    assert data["editMilestone"]["userErrors"] == [], data
                wanted = await notification_ids(caller, room.freelancer) - earlier
                missing_for_reader = await reader.until_seen(wanted, 30)
                await asyncio.sleep(2)  # the server has had time to produce every result
            ids, cursor, code, results = await _drain(stalled, wanted, 30)
        finally:
            stalled.close()
        resumed: list[str] = []
        if code is not None:  # closed: come back after the last cursor seen
            again = Feed(lambda: [node], room.freelancer)
            again.start(after=cursor or after)
            await again.until_seen(wanted - set(ids), 30)
            await again.stop()
            resumed = again.ids
        await reader.stop()

    growth_mb = (memory.peak - baseline) / 2**20
    seen = ids + resumed
    row.count(tally, memory.peak)
    row.requests += QUERIES + 1
    row.lost = len(wanted - set(seen))
    row.doubled = len(seen) - len(set(seen)) + reader.duplicates
    print(
        f"\n{row.scenario}: RSS {baseline / 2**20:.0f} MB -> peak {memory.peak_mb:.0f} MB"
        f" (+{growth_mb:.0f} MB); stalled socket {'closed with ' + str(code) if code else 'open'},"
        f" {len(ids)} notifications and {results} query results read from it,"
        f" {len(resumed)} more after resuming"
    )
    if growth_mb >= MAX_GROWTH_MB:
        row.problems.append(f"server memory grew by {growth_mb:.0f} MB (bound {MAX_GROWTH_MB})")
    if missing_for_reader:
        row.lost += len(missing_for_reader)
        row.problems.append(f"the reading subscriber missed {len(missing_for_reader)}")
    row.check()
