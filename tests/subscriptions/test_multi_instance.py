"""Several `milestones serve` processes sharing PostgreSQL and Redis: delivery across them, and
nothing lost when the broker connection drops, the broker restarts, or a server dies."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis import asyncio as aioredis

from tests.conftest import require_service, test_redis_url
from tests.helpers import Actor, Room, create_contract_with_milestones
from tests.subscriptions.servers import Cluster, RedisServer, Server, cluster, free_port
from tests.subscriptions.wsclient import GraphQLWS, subscribed_client

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

EDIT = """
mutation ($id: ID!, $title: String!) {
  editMilestone(input: {milestoneId: $id, title: $title}) { userErrors { code } }
}
"""


@pytest.fixture
async def pair(postgres_url: str, redis_url: str, tmp_path: Path) -> AsyncIterator[Cluster]:
    """Two instances, A and B, on a fresh database and Redis."""
    async with cluster(postgres_url, test_redis_url(scratch=2), tmp_path) as running:
        await running.start()
        await running.start()
        yield running


async def _room(server: Server, tag: str) -> Room:
    client = server.actor(f"client-{tag}", name="Cleo Client", email="cleo@example.com")
    freelancer = server.actor(f"freelancer-{tag}", name="Fred", email="fred@example.com")
    return await create_contract_with_milestones(client, freelancer, ["100.00"])


def _as_seen_on(server: Server, actor: Actor) -> Actor:
    """The same person, talking to another instance."""
    return server.actor(actor.sub)


async def _edit(client: Actor, room: Room, title: str) -> None:
    data = await client.gql(EDIT, {"id": room.milestone(0), "title": title})
    assert data["editMilestone"]["userErrors"] == []


async def _settle(ws: GraphQLWS) -> None:
    await ws.expect_silence(0.3)  # the subscription is in place (no ack in the protocol)


async def test_mutation_on_one_instance_reaches_a_subscriber_on_the_other(
    pair: Cluster,
) -> None:
    a, b = pair.servers
    room = await _room(a, "cross")
    async with subscribed_client(b.ws_url, room.client.token) as ws:
        await ws.subscribe_notifications("n")
        await _settle(ws)
        latencies = []
        for round_number in range(5):
            started = time.monotonic()
            await room.request_changes(
                [{"kind": "ADD", "title": f"Extra {round_number}", "amount": "5.00"}]
            )
            (notification,) = await ws.take("n", 1, within=1.0)
            latencies.append(time.monotonic() - started)
            assert notification["kind"] == "CHANGE_REQUEST_SUBMITTED"
            await ok_withdraw(room, notification["changeRequest"]["id"])
            (withdrawn,) = await ws.take("n", 1, within=1.0)
            assert withdrawn["kind"] == "CHANGE_REQUEST_WITHDRAWN"
    assert max(latencies) < 1.0
    print(
        f"\ncross-instance latency (mutation on A -> subscriber on B): "
        f"median {sorted(latencies)[2] * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms"
    )


async def ok_withdraw(room: Room, change_request_id: str) -> None:
    data = await room.freelancer.gql(
        "mutation ($id: ID!) { withdrawChangeRequest(input: {changeRequestId: $id}) "
        "{ userErrors { code } } }",
        {"id": change_request_id},
    )
    assert data["withdrawChangeRequest"]["userErrors"] == []


async def test_killed_instance_clients_reconnect_to_the_other_and_miss_nothing(
    pair: Cluster,
) -> None:
    a, b = pair.servers
    room = await _room(b, "failover")
    freelancer_on_a = _as_seen_on(a, room.freelancer)
    async with subscribed_client(a.ws_url, freelancer_on_a.token) as ws:
        await ws.subscribe_notifications("n")
        await _settle(ws)
        await _edit(room.client, room, "Seen before the crash")
        (last,) = await ws.take("n", 1)
        await a.kill()  # SIGKILL: no goodbye
        assert await ws.closed_with() in {1006, None, 1012}

    missed = 5
    for number in range(missed):
        await _edit(room.client, room, f"While reconnecting {number}")
    started = time.monotonic()
    async with subscribed_client(b.ws_url, room.freelancer.token) as ws:
        await ws.subscribe_notifications("n", after=last["cursor"])
        replayed = await ws.take("n", missed)
        catch_up = time.monotonic() - started
        await ws.expect_silence(0.3)
        await _edit(room.client, room, "Live again")
        (live,) = await ws.take("n", 1)
    assert [n["kind"] for n in replayed] == ["MILESTONE_EDITED"] * missed
    assert len({n["cursor"] for n in [*replayed, live, last]}) == missed + 2
    print(
        f"\nfail-over catch-up of {missed} notifications on the other instance: "
        f"{catch_up * 1000:.1f} ms"
    )


async def _killer(redis_url: str, pids: list[int], times: int, pause: float) -> int:
    """CLIENT KILL every Redis connection of these server processes, `times` times."""
    redis = aioredis.Redis.from_url(redis_url)
    killed = 0
    try:
        for _ in range(times):
            for client in await redis.client_list():
                name = client.get("name", "")
                if any(f":{pid}:" in name for pid in pids):
                    await redis.client_kill_filter(_id=client["id"])
                    killed += 1
            await asyncio.sleep(pause)
    finally:
        await redis.aclose()
    return killed


async def test_redis_connections_killed_mid_stream_lose_nothing(
    pair: Cluster, redis_url: str
) -> None:
    a, b = pair.servers
    room = await _room(a, "client-kill")
    freelancer_on_b = _as_seen_on(b, room.freelancer)
    total = 30
    async with subscribed_client(b.ws_url, freelancer_on_b.token) as ws:
        await ws.subscribe_notifications("n")
        await ws.subscribe_events("e", room.contract_id)
        await _settle(ws)
        pids = await _server_pids(pair)
        killer = asyncio.create_task(_killer(test_redis_url(scratch=2), pids, times=6, pause=0.15))
        for number in range(total):
            await _edit(room.client, room, f"Through the storm {number}")
            await asyncio.sleep(0.02)
        assert await killer > 0
        notifications = await ws.take("n", total, within=10)
        events = await ws.take("e", total, within=10)
        await ws.expect_silence(0.5)
    assert [n["kind"] for n in notifications] == ["MILESTONE_EDITED"] * total
    assert len({n["cursor"] for n in notifications}) == total
    assert len({e["cursor"] for e in events}) == total


async def _server_pids(pair: Cluster) -> list[int]:
    """The pids that name the servers' Redis connections (uvicorn may fork workers)."""
    return [server.pid for server in pair.servers] + _children(pair)


def _children(pair: Cluster) -> list[int]:
    found: list[int] = []
    for server in pair.servers:
        children = Path(f"/proc/{server.pid}/task/{server.pid}/children")
        if children.exists():
            found += [int(pid) for pid in children.read_text().split()]
    return found


async def test_redis_restarted_mid_stream_loses_nothing(postgres_url: str, tmp_path: Path) -> None:
    if shutil.which("redis-server") is None:
        require_service("redis-server is not installed: cannot restart a private Redis")
    port = free_port()
    redis = await RedisServer.start(port, tmp_path)
    try:
        async with cluster(postgres_url, f"redis://127.0.0.1:{port}/0", tmp_path) as running:
            a = await running.start()
            b = await running.start()
            room = await _room(a, "restart")
            freelancer_on_b = _as_seen_on(b, room.freelancer)
            async with (
                subscribed_client(b.ws_url, freelancer_on_b.token) as stays,
                subscribed_client(b.ws_url, freelancer_on_b.token) as leaves,
            ):
                await stays.subscribe_notifications("n")
                await leaves.subscribe_notifications("n")
                await _settle(stays)
                await _edit(room.client, room, "Before the restart")
                (seen,) = await stays.take("n", 1)
                await leaves.take("n", 1)
                await leaves.connection.close()

                await redis.kill()
                for number in range(3):  # the broker is down: these wake nobody directly
                    await _edit(room.client, room, f"While Redis is down {number}")
                redis = await RedisServer.start(port, tmp_path)
                for number in range(3):
                    await _edit(room.client, room, f"After the restart {number}")
                received = await stays.take("n", 6, within=10)
                await stays.expect_silence(0.3)
            async with subscribed_client(b.ws_url, freelancer_on_b.token) as back:
                await back.subscribe_notifications("n", after=seen["cursor"])
                replayed = await back.take("n", 6)
                await back.expect_silence(0.3)
    finally:
        await redis.kill()
    assert [n["cursor"] for n in received] == [n["cursor"] for n in replayed]
    assert len({n["cursor"] for n in received}) == 6


async def test_serve_with_workers_delivers_to_every_worker(
    postgres_url: str, redis_url: str, tmp_path: Path
) -> None:
    async with cluster(postgres_url, test_redis_url(scratch=3), tmp_path) as running:
        server = await running.start(workers=2)
        room = await _room(server, "workers")
        subscribers = 6  # spread over both workers by the kernel
        async with asyncio.timeout(30):
            clients = [subscribed_client(server.ws_url, room.freelancer.token) for _ in range(6)]
            sockets = [await client.__aenter__() for client in clients]
            try:
                for ws in sockets:
                    await ws.subscribe_notifications("n")
                await _settle(sockets[0])
                await _edit(room.client, room, "For every worker")
                for ws in sockets:
                    (notification,) = await ws.take("n", 1, within=2)
                    assert notification["kind"] == "MILESTONE_EDITED"
            finally:
                for client in clients:
                    await client.__aexit__(None, None, None)
        assert subscribers == len(sockets)


def _connections_by_worker(
    server: Server, state: str = "01", peers: set[int] | None = None
) -> dict[int, int]:
    """Sockets on the server's port in `state` (01 established, 0A listening), per worker
    process (from /proc); `peers`: only those from these client ports."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                local_port = int(fields[1].rsplit(":", 1)[1], 16)
                remote_port = int(fields[2].rsplit(":", 1)[1], 16)
                if local_port != server.port or fields[3] != state:
                    continue
                if peers is None or remote_port in peers:
                    inodes.add(fields[9])
    counts: dict[int, int] = {}
    for pid in _children_of(server.pid):
        held = 0
        with contextlib.suppress(FileNotFoundError, PermissionError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    target = os.readlink(fd)
                    if target.startswith("socket:[") and target[8:-1] in inodes:
                        held += 1
        if held or state == "01":
            counts[pid] = held
    return counts


async def _workers_listening(server: Server, workers: int, without: int = 0) -> list[int]:
    """The worker pids, once `workers` of them listen (each after its app has started), none
    of them `without`."""
    while True:
        listening = _connections_by_worker(server, "0A")
        if len(listening) >= workers and without not in listening:
            return sorted(listening)
        await asyncio.sleep(0.1)


def _children_of(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in children.read_text().split()] if children.exists() else []


async def _open_connections(server: Server, count: int) -> list[asyncio.StreamWriter]:
    """`count` keep-alive connections opened at once, each having had one answer."""

    async def one() -> asyncio.StreamWriter:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
        await writer.drain()
        assert (await reader.readline()).startswith(b"HTTP/1.1 200")
        return writer

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def _spread(server: Server, count: int) -> dict[int, int]:
    writers = await _open_connections(server, count)
    try:
        ours = {writer.get_extra_info("sockname")[1] for writer in writers}
        return _connections_by_worker(server, peers=ours)
    finally:
        for writer in writers:
            writer.close()


async def test_serve_with_workers_spreads_connections_over_them(
    postgres_url: str, redis_url: str, tmp_path: Path
) -> None:
    """Connections opened together land on both workers, not all on the first one awake (each
    worker listens on a socket of its own: milestones/web/listening.py), and a worker started
    in place of a dead one gets its share too."""
    async with cluster(postgres_url, test_redis_url(scratch=3), tmp_path) as running:
        server = await running.start(workers=2)
        async with asyncio.timeout(60):
            workers = await _workers_listening(server, 2)
            for _ in range(3):
                counts = await _spread(server, 32)
                # The supervisor's socket does not listen: every connection is a worker's.
                assert sum(counts[pid] for pid in workers) == sum(counts.values()) == 32, counts
                # Under 1e-4 that a fair split of 32 gives one side fewer than 6.
                assert min(counts[pid] for pid in workers) >= 6, counts
            first = workers[0]
            os.kill(first, signal.SIGKILL)
            # uvicorn's supervisor starts another worker in its place, on a socket of its own.
            workers = await _workers_listening(server, 2, without=first)
            counts = await _spread(server, 32)
            assert sum(counts[pid] for pid in workers) == sum(counts.values()) == 32, counts
            assert min(counts[pid] for pid in workers) >= 6, counts
