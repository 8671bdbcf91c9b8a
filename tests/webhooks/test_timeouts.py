"""An attempt has a time limit: a receiver too slow to answer counts as a failure and the
delivery is tried again under the same `webhook-id`."""

from __future__ import annotations

import asyncio
import time

import pytest

from milestones.config import Settings
from tests.conftest import Actor
from tests.helpers import create_contract_with_milestones
from tests.webhooks.documents import created_endpoint, deliveries
from tests.webhooks.receiver import Receiver


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"webhook_timeout_seconds": 0.3})


async def test_a_receiver_slower_than_the_time_limit_gets_a_retry(
    client: Actor, freelancer: Actor, receiver: Receiver
) -> None:
    def slow_first(path: str, headers: dict[str, str], earlier: int) -> int:
        if earlier == 0:
            time.sleep(1.0)  # past the 0.3 s limit: the sender has given up by then
        return 200

    receiver.answer = slow_first
    endpoint_id, _ = await created_endpoint(freelancer, url=receiver.url, kinds=["MILESTONE_ADDED"])
    await create_contract_with_milestones(client, freelancer, ["10.00"])
    for _ in range(500):
        (shown,) = await deliveries(freelancer, endpoint_id)
        if shown["status"] == "DELIVERED":
            break
        await asyncio.sleep(0.02)
    assert shown["status"] == "DELIVERED"
    assert shown["attempts"] == 2
    await receiver.wait_for_attempts(2)  # the slow one is recorded once it has answered
    assert len(receiver.attempts_of(shown["webhookId"])) == 2
