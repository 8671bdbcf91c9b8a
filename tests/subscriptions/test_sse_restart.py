"""Black box: an SSE reader resumes by Last-Event-ID across a server restart, with nothing lost
and nothing twice (real `milestones serve` processes, on the pass's database)."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from milestones import ids
from tests.conftest import is_postgres_url, test_database_url
from tests.databases import migrated_sqlite_url
from tests.helpers import Room, create_contract_with_milestones, notification_nodes
from tests.subscriptions.servers import Cluster, Server, fresh_postgres_database
from tests.subscriptions.sseclient import ServerSentEvent, event_stream

pytestmark = [pytest.mark.slow]

NOTIFICATIONS = """
subscription Notifications($after: String) {
  notifications(after: $after) { cursor kind message }
}
"""


@contextlib.asynccontextmanager
async def _cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    url = test_database_url()
    async with contextlib.AsyncExitStack() as stack:
        if is_postgres_url(url):
            database_url = await stack.enter_async_context(fresh_postgres_database(url))
        else:
            database_url = migrated_sqlite_url(tmp_path / "restart.sqlite3")
        running = Cluster(database_url, "memory://", tmp_path)
        stack.push_async_callback(running.stop)
        yield running


def _room_on(server: Server, room: Room) -> Room:
    """The same contract, its parties now talking to `server`."""
    return Room(
        server.actor(room.client.sub or ""),
        server.actor(room.freelancer.sub or ""),
        room.contract_id,
        room.milestone_ids,
    )


def _seq(event: ServerSentEvent) -> int:
    seq = ids.decode_cursor(event.id, "notification")
    assert seq is not None, event
    return seq


@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGTERM], ids=["killed", "terminated"])
async def test_sse_resumes_by_last_event_id_across_a_restart(
    tmp_path: Path, stop: signal.Signals
) -> None:
    async with _cluster(tmp_path) as running:
        first = await running.start()
        room = await create_contract_with_milestones(
            first.actor("client"), first.actor("freelancer"), ["100.00"]
        )
        base = f"http://127.0.0.1:{first.port}"
        start = {"after": ids.encode_cursor("notification", 0)}
        token = room.freelancer.token
        seen: list[ServerSentEvent] = []
        with contextlib.suppress(httpx.HTTPError):
            async with event_stream(base, NOTIFICATIONS, start, token=token) as sse:
                seen += await sse.results(len(await notification_nodes(room.freelancer)))
                await room.add("Before the restart", "10.00")
                seen += await sse.results(1)
                await first.kill(stop)
                assert await sse.next() is None  # the stream ends (or the read fails)

        # Back on the same database; two things happen while the reader is away.
        second = await running.start()
        room = _room_on(second, room)
        await room.add("While away 1", "10.00")
        await room.add("While away 2", "10.00")
        base = f"http://127.0.0.1:{second.port}"
        async with event_stream(
            base, NOTIFICATIONS, start, token=token, last_event_id=seen[-1].id
        ) as resumed:
            seen += await resumed.results(2)
            await room.add("After the return", "10.00")
            seen += await resumed.results(1)
            await resumed.expect_silence(0.3)

        listed = await notification_nodes(room.freelancer)
    sequence = [_seq(event) for event in seen]
    assert sequence == list(range(1, len(listed) + 1))  # no gap, nothing twice
    assert [event.json()["data"]["notifications"]["message"] for event in seen] == [
        node["message"] for node in reversed(listed)
    ]
