"""Two `milestones serve` processes on one PostgreSQL database share the webhook outbox:
every delivery reaches the receiver exactly once with a 2xx, in cursor order, although both
instances are woken by every write and race to claim."""

from __future__ import annotations

import asyncio
import base64
from collections import Counter
from pathlib import Path

import httpx
import pytest

from milestones.auth import issue_token
from tests.conftest import (
    TEST_JWT_SECRET,
    Actor,
    postgres_unavailable,
    require_service,
    test_postgres_url,
)
from tests.helpers import create_contract, ok
from tests.security.servers import fresh_postgres_database, serve, server_environment
from tests.webhooks.documents import created_endpoint, deliveries
from tests.webhooks.receiver import Receiver, fail_first

N = 12


def _position(cursor: str) -> int:
    return int(base64.b64decode(cursor).decode().rsplit(":", 1)[1])


@pytest.mark.postgres
async def test_two_instances_never_deliver_twice(tmp_path: Path, receiver: Receiver) -> None:
    require_service(postgres_unavailable(test_postgres_url()))
    receiver.answer = fail_first(1)
    with fresh_postgres_database(test_postgres_url()) as database_url:
        env = server_environment(
            database_url,
            # Both instances hear every wake-up, so both race for each delivery.
            BROADCAST_URL=database_url,
            WEBHOOK_RETRY_SECONDS="0.05",
            WEBHOOK_MAX_RETRY_SECONDS="0.2",
        )
        async with serve(env, tmp_path / "logs", count=2) as urls:
            https = [httpx.AsyncClient(base_url=url, timeout=30.0) for url in urls]
            try:

                def actors(sub: str) -> list[Actor]:
                    token = issue_token(TEST_JWT_SECRET, sub, name=sub.title())
                    return [Actor(http, sub, token) for http in https]

                clients, freelancers = actors("client"), actors("freelancer")
                endpoint_id, secret = await created_endpoint(
                    freelancers[0], url=receiver.url, kinds=["MILESTONE_ADDED"]
                )
                contract = await create_contract(clients[0], freelancers[0])
                await asyncio.gather(
                    *(
                        ok(
                            clients[index % 2],
                            "addMilestone",
                            {"contractId": contract["id"], "title": f"M{index}", "amount": "1"},
                        )
                        for index in range(N)
                    )
                )
                delivered = await receiver.wait_for(N, seconds=60)
                for _ in range(1000):
                    shown = await deliveries(freelancers[1], endpoint_id)
                    if all(row["status"] == "DELIVERED" for row in shown):
                        break
                    await asyncio.sleep(0.05)
            finally:
                for http in https:
                    await http.aclose()

    assert len(shown) == N and all(row["status"] == "DELIVERED" for row in shown)
    successes = Counter(seen.webhook_id for seen in receiver.delivered)
    assert len(successes) == N
    assert set(successes.values()) == {1}, "a webhook was delivered twice"
    assert {row["webhookId"] for row in shown} == set(successes)
    positions = [
        _position(seen.verified(secret)["data"]["notification"]["cursor"]) for seen in delivered
    ]
    assert positions == sorted(positions), "deliveries out of cursor order"
    # Every message failed once first and kept its id on the retry.
    assert all(len(receiver.attempts_of(webhook_id)) == 2 for webhook_id in successes)
