"""Fair use against real `milestones serve` processes (issue 17's checks).

On the PostgreSQL pass: two servers on one fresh database, with Redis for the broadcast and so
for the shared rate limits; requests alternate between them. On the SQLite pass: one server.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import math
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from milestones.auth import issue_token
from tests.conftest import (
    TEST_JWT_SECRET,
    Actor,
    is_postgres_url,
    postgres_unavailable,
    redis_unavailable,
    require_service,
    test_database_url,
    test_postgres_url,
    test_redis_url,
)
from tests.databases import migrated_sqlite_url
from tests.helpers import MUTATIONS, create_contract_with_milestones, notification_nodes
from tests.security.servers import fresh_postgres_database, serve, server_environment
from tests.subscriptions.servers import free_port
from tests.subscriptions.test_email_fair_use import StrictMailbox, listed

POSTGRES = is_postgres_url(test_database_url())
SERVICES = [pytest.mark.postgres, pytest.mark.redis] if POSTGRES else []
pytestmark = SERVICES
REDIS_DATABASE = 5
COALESCE_SECONDS = 8.0


class Cluster:
    def __init__(self, database_url: str, clients: list[httpx.AsyncClient]) -> None:
        self.database_url = database_url
        self.clients = clients

    def actors(self, sub: str, email: str | None = None) -> list[Actor]:
        token = issue_token(TEST_JWT_SECRET, sub, name=sub.title(), email=email)
        return [Actor(http, sub, token) for http in self.clients]

    async def execute(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        """SQL on the servers' database, from outside (as an operator would)."""
        if is_postgres_url(self.database_url):
            import asyncpg

            connection = await asyncpg.connect(
                self.database_url.replace("postgres://", "postgresql://", 1)
            )
            try:
                return [tuple(row) for row in await connection.fetch(sql, *args)]
            finally:
                await connection.close()
        path = self.database_url.removeprefix("sqlite:///")
        sql = sql.replace("$1", "?").replace("$2", "?")
        with contextlib.closing(sqlite3.connect(path)) as connection, connection:
            return connection.execute(sql, args).fetchall()


@contextlib.asynccontextmanager
async def cluster(tmp_path: Path, **env: str) -> AsyncIterator[Cluster]:
    clients: list[httpx.AsyncClient] = []
    try:
        if POSTGRES:
            require_service(postgres_unavailable(test_postgres_url()))
            redis = test_redis_url()
            require_service(redis_unavailable(redis))
            broadcast = redis.rsplit("/", 1)[0] + f"/{REDIS_DATABASE}"
            with fresh_postgres_database(test_postgres_url()) as database_url:
                environment = server_environment(
                    database_url,
                    BROADCAST_URL=broadcast,
                    RATE_LIMIT_KEY_PREFIX=f"milestones-test:{uuid.uuid4().hex}:",
                    **env,
                )
                async with serve(environment, tmp_path / "logs", count=2) as urls:
                    clients = [httpx.AsyncClient(base_url=url, timeout=60.0) for url in urls]
                    yield Cluster(database_url, clients)
        else:
            database_url = migrated_sqlite_url(tmp_path / "fair-use.sqlite3")
            async with serve(server_environment(database_url, **env), tmp_path / "logs") as urls:
                clients = [httpx.AsyncClient(base_url=url, timeout=60.0) for url in urls]
                yield Cluster(database_url, clients)
    finally:
        for http in clients:
            await http.aclose()


async def test_a_burst_over_the_limit_gets_429s_and_changes_nothing(tmp_path: Path) -> None:
    async with cluster(tmp_path, RATE_LIMIT_NOTIFYING="6/minute") as servers:
        clients, freelancers = servers.actors("client"), servers.actors("freelancer")
        room = await create_contract_with_milestones(clients[0], freelancers[0])  # 1 of 6

        async def add(index: int) -> httpx.Response:
            actor = clients[index % len(clients)]
            return await actor.http.post(
                "/graphql",
                json={
                    "query": MUTATIONS["addMilestone"],
                    "variables": {
                        "input": {
                            "contractId": room.contract_id,
                            "title": f"M{index}",
                            "amount": "1",
                        }
                    },
                },
                headers={"authorization": f"Bearer {actor.token}"},
            )

        responses = await asyncio.gather(*(add(index) for index in range(12)))
        admitted = [r for r in responses if r.status_code == 200]
        refused = [r for r in responses if r.status_code == 429]
        assert len(admitted) == 5 and len(refused) == 7, [r.status_code for r in responses]
        for response in refused:
            assert int(response.headers["retry-after"]) >= 1
            assert response.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
        for response in admitted:
            assert response.json()["data"]["addMilestone"]["userErrors"] == []
        (count,) = (await servers.execute("SELECT count(*) FROM milestones"))[0]
        assert count == 5
        assert len(await notification_nodes(freelancers[-1])) == 1 + 5
        # Another user's budget is whole.
        assert "errors" not in await freelancers[-1].post("query { me { id } }")


async def test_request_withdraw_rounds_email_the_client_a_few_times(tmp_path: Path) -> None:
    from aiosmtpd.controller import Controller

    port = free_port()
    mailbox = StrictMailbox(set())
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    await asyncio.to_thread(controller.start)
    try:
        async with cluster(
            tmp_path,
            SMTP_URL=f"smtp://127.0.0.1:{port}",
            SMTP_RETRY_SECONDS="0.2",
            EMAIL_COALESCE_WINDOW=f"{COALESCE_SECONDS}s",
        ) as servers:
            clients = servers.actors("client", "cleo@example.com")
            freelancers = servers.actors("freelancer", "fred@example.com")
            room = await create_contract_with_milestones(clients[0], freelancers[0])
            started = time.monotonic()
            for round_number in range(49):
                freelancer = freelancers[round_number % len(freelancers)]
                body = await freelancer.post(
                    MUTATIONS["requestMilestoneChanges"],
                    {
                        "input": {
                            "contractId": room.contract_id,
                            "changes": [{"kind": "ADD", "title": "More", "amount": "5"}],
                        }
                    },
                )
                request_id = body["data"]["requestMilestoneChanges"]["changeRequest"]["id"]
                body = await freelancer.post(
                    MUTATIONS["withdrawChangeRequest"], {"input": {"changeRequestId": request_id}}
                )
                assert body["data"]["withdrawChangeRequest"]["userErrors"] == []
            elapsed = time.monotonic() - started
            # 98 from the rounds, and the acceptance of the offer before them.
            assert len(await notification_nodes(clients[0])) == 99
            deadline = time.monotonic() + COALESCE_SECONDS * 4

            def to_cleo() -> list[Any]:
                return [
                    message
                    for recipients, message in zip(
                        mailbox.recipients, mailbox.messages, strict=True
                    )
                    if recipients == ["cleo@example.com"]
                ]

            while sum(listed(message) for message in to_cleo()) < 99:
                assert time.monotonic() < deadline, [m["Subject"] for m in to_cleo()]
                await asyncio.sleep(0.2)
            await asyncio.sleep(1.0)
            assert sum(listed(message) for message in to_cleo()) == 99
            # One email as the rounds start, then at most one a window (whatever the load).
            assert len(to_cleo()) <= 1 + math.ceil(elapsed / COALESCE_SECONDS), elapsed
    finally:
        await asyncio.to_thread(controller.stop)


async def test_an_expired_idempotency_key_is_pruned_and_can_be_used_again(tmp_path: Path) -> None:
    async with cluster(tmp_path, PRUNE_INTERVAL="0.3s") as servers:
        clients, freelancers = servers.actors("client"), servers.actors("freelancer")
        room = await create_contract_with_milestones(clients[0], freelancers[0], ["10.00", "20.00"])

        async def activate(index: int, actor: Actor) -> dict[str, Any]:
            body = await actor.post(
                MUTATIONS["activateMilestone"],
                {"input": {"milestoneId": room.milestone(index), "idempotencyKey": "pay-1"}},
            )
            payload: dict[str, Any] = body["data"]["activateMilestone"]
            return payload

        assert (await activate(0, clients[0]))["userErrors"] == []
        await room.submit(0)
        await room.approve(0)
        assert [e["code"] for e in (await activate(1, clients[-1]))["userErrors"]] == [
            "IDEMPOTENCY_CONFLICT"
        ]
        (stored,) = (await servers.execute("SELECT created_at FROM idempotency_records"))[0]
        aged = _two_days_earlier(stored)
        await servers.execute("UPDATE idempotency_records SET created_at = $1", aged)
        deadline = time.monotonic() + 15
        while (await servers.execute("SELECT count(*) FROM idempotency_records"))[0][0]:
            assert time.monotonic() < deadline, "the expired record was not pruned"
            await asyncio.sleep(0.2)
        again = await activate(1, clients[-1])
        assert again["userErrors"] == [] and again["milestone"]["status"] == "ACTIVE"


def _two_days_earlier(stored: Any) -> Any:
    """The stored timestamp two days back, in the form the database keeps it."""
    if isinstance(stored, dt.datetime):
        return stored - dt.timedelta(days=2)
    text = str(stored)
    parsed = dt.datetime.fromisoformat(text)
    return (parsed - dt.timedelta(days=2)).isoformat(sep=text[10])
