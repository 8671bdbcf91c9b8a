"""Safe to expose (issue 10), black-box: real `milestones serve` processes, real sockets, the
server's memory read from /proc. Each flood must leave the server's resident memory within
50 MB of where it was, and the server must still answer afterwards.

On the PostgreSQL pass each server has a fresh PostgreSQL database; otherwise a SQLite file.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from milestones.auth import issue_token
from tests.conftest import (
    TEST_JWT_SECRET,
    is_postgres_url,
    postgres_unavailable,
    require_service,
    test_database_url,
    test_postgres_url,
)
from tests.databases import migrated_sqlite_url
from tests.security.servers import (
    Server,
    free_port,
    fresh_postgres_database,
    serve_servers,
    server_environment,
)

MB = 1024 * 1024
GROWTH_LIMIT = 50 * MB
POSTGRES = is_postgres_url(test_database_url())
BACKEND = pytest.param(
    "postgres" if POSTGRES else "sqlite", marks=[pytest.mark.postgres] if POSTGRES else []
)
BODY_LIMIT = 100 * 1024
SUBSCRIPTION = "subscription { notifications { id } }"


@pytest.fixture(params=[BACKEND])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@contextlib.asynccontextmanager
async def exposed(backend: str, tmp_path: Path, **env: str) -> AsyncIterator[Server]:
    """One server, as it would face the internet (production settings but for the secret)."""
    extra = {"MILESTONES_ENV": "production", **env}
    if backend == "postgres":
        require_service(postgres_unavailable(test_postgres_url()))
        with fresh_postgres_database(test_postgres_url()) as database_url:
            async with serve_servers(server_environment(database_url, **extra), tmp_path) as (
                server,
            ):
                yield server
    else:
        database_url = migrated_sqlite_url(tmp_path / "exposed.sqlite3")
        async with serve_servers(server_environment(database_url, **extra), tmp_path) as (server,):
            yield server


@contextlib.asynccontextmanager
async def socket(server: Server, max_queue: int = 16) -> AsyncIterator[ClientConnection]:
    async with connect(
        server.ws_url,
        subprotocols=[Subprotocol("graphql-transport-ws")],
        max_size=None,
        max_queue=max_queue,
        open_timeout=10,
        close_timeout=2,
    ) as connection:
        yield connection


async def send(connection: ClientConnection, message: dict[str, Any]) -> None:
    await connection.send(json.dumps(message))


async def receive(connection: ClientConnection, within: float = 10.0) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(connection.recv(), within))
    return message


async def closed_with(connection: ClientConnection, within: float = 10.0) -> int | None:
    try:
        while True:
            await asyncio.wait_for(connection.recv(), within)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd is not None else None


async def init(connection: ClientConnection, token: str) -> None:
    await send(
        connection, {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
    )
    assert (await receive(connection))["type"] == "connection_ack"


def token(sub: str = "cleo", expires_in: int = 3600) -> str:
    return issue_token(TEST_JWT_SECRET, sub, name=sub.title(), expires_in=expires_in)


async def still_serves(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        response = await http.post(
            "/graphql",
            json={"query": "{ me { id } }"},
            headers={"authorization": f"Bearer {token()}"},
        )
    assert response.status_code == 200 and response.json()["data"]["me"]["id"], response.text


def many_tokens(count: int) -> str:
    return "{ " + "a " * (count - 2) + "}"


async def test_a_subscribe_before_init_is_closed_4401_and_a_huge_frame_is_never_read(
    backend: str, tmp_path: Path
) -> None:
    async with exposed(backend, tmp_path) as server:
        before = server.rss_bytes()
        # Under the frame limit: refused for who sends it, before its document is looked at.
        document = "subscription { notifications { id " + "id " * 30_000 + "} }"
        for _ in range(20):
            async with socket(server) as connection:
                await send(
                    connection,
                    {"id": "1", "type": "subscribe", "payload": {"query": document}},
                )
                assert await closed_with(connection) == 4401
        # Over it (2 MB): refused from the frame's header, its payload never read.
        big = "subscription { notifications { id " + "id " * 700_000 + "} }"
        async with socket(server) as connection:
            with contextlib.suppress(ConnectionClosed):
                await send(connection, {"id": "1", "type": "subscribe", "payload": {"query": big}})
            assert await closed_with(connection) == 1009  # message too big
        assert server.rss_bytes() - before < GROWTH_LIMIT
        await still_serves(server)


async def test_a_49000_token_document_is_refused_with_its_code_and_the_socket_stays(
    backend: str, tmp_path: Path
) -> None:
    async with exposed(backend, tmp_path) as server, socket(server) as connection:
        await init(connection, token())
        document = many_tokens(49_000)
        assert len(document) < BODY_LIMIT
        await send(connection, {"id": "big", "type": "subscribe", "payload": {"query": document}})
        refused = await receive(connection)
        assert refused["type"] == "error" and refused["id"] == "big", refused
        assert refused["payload"][0]["extensions"]["code"] == "TOO_MANY_TOKENS", refused
        await send(connection, {"type": "ping"})
        assert (await receive(connection))["type"] == "pong"


async def test_a_socket_that_never_reads_is_closed_4429_within_its_byte_budget(
    backend: str, tmp_path: Path
) -> None:
    # Each answer is ~95 KB (an error naming a 95 KB field): 800 of them would be 76 MB.
    name = "x" * 95_000
    async with exposed(backend, tmp_path) as server:
        before = server.rss_bytes()
        async with socket(server, max_queue=1) as connection:
            await init(connection, token())
            query = {"query": f"{{ {name} }}"}

            async def flood() -> None:
                for number in range(800):
                    await send(
                        connection, {"id": str(number), "type": "subscribe", "payload": query}
                    )

            # Once the server has closed the socket it reads no more, and a send stalls: the
            # flood is not waited for past a few seconds (nor cancelled mid-frame).
            flooding = asyncio.create_task(flood())
            await asyncio.wait([flooding], timeout=3.0)
            await asyncio.sleep(0.5)  # let the server work through what it was sent
            growth = server.rss_bytes() - before
            # 4429, unless the client's unread flood makes the kernel reset the connection
            # before the close frame is read; the server counts the close either way.
            assert await closed_with(connection) in (4429, None)
            with contextlib.suppress(ConnectionClosed):
                await flooding
        assert growth < GROWTH_LIMIT, growth / MB
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
            metrics = (await http.get("/metrics")).text
        assert 'milestones_websockets_closed_total{reason="backlog"} 1.0' in metrics, metrics
        await still_serves(server)


async def test_a_socket_is_closed_4403_when_its_token_expires(backend: str, tmp_path: Path) -> None:
    async with exposed(backend, tmp_path) as server, socket(server) as connection:
        await init(connection, token(expires_in=2))
        await send(connection, {"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIPTION}})
        assert await closed_with(connection, within=6.0) == 4403


async def test_a_broker_outage_does_not_fail_readiness_and_is_reported(
    backend: str, tmp_path: Path
) -> None:
    dead_broker = f"redis://127.0.0.1:{free_port()}/0"
    # `exposed` waits for /readyz to answer 200: with the broker down, it must.
    async with exposed(backend, tmp_path, BROADCAST_URL=dead_broker) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
            ready = await http.get("/readyz")
            metrics = await http.get("/metrics")
        assert ready.status_code == 200, ready.text
        assert ready.json() == {"status": "ready", "database": "ok", "broker": "down"}
        assert "milestones_broker_connected 0.0" in metrics.text
        await still_serves(server)
