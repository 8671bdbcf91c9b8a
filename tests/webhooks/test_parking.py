"""A delivery that gets no 2xx within the retry window is parked as failed, counted in the
metrics, and no longer holds back the endpoint's later deliveries."""

from __future__ import annotations

import asyncio

import pytest

from milestones.config import Settings
from tests.conftest import Actor
from tests.helpers import create_contract_with_milestones
from tests.webhooks.documents import created_endpoint, deliveries
from tests.webhooks.receiver import Receiver, always


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"webhook_retry_window_seconds": 0.5})


def _counter(text: str, outcome: str) -> float:
    line = f'milestones_webhook_deliveries_total{{outcome="{outcome}"}} '
    found = [row for row in text.splitlines() if row.startswith(line)]
    return float(found[0][len(line) :]) if found else 0.0


async def test_parked_after_the_window_then_later_ones_go_through(
    client: Actor, freelancer: Actor, receiver: Receiver
) -> None:
    before = (await client.http.get("/metrics")).text
    receiver.answer = always(500)
    endpoint_id, _ = await created_endpoint(freelancer, url=receiver.url, kinds=["MILESTONE_ADDED"])
    room = await create_contract_with_milestones(client, freelancer, ["10.00"])
    for _ in range(500):
        (shown,) = await deliveries(freelancer, endpoint_id)
        if shown["status"] != "PENDING":
            break
        await asyncio.sleep(0.02)
    assert shown["status"] == "FAILED"
    assert shown["failedAt"] is not None and shown["nextAttemptAt"] is None
    assert shown["attempts"] >= 2 and shown["lastStatusCode"] == 500
    parked_attempts = len(receiver.received)

    receiver.answer = always(200)
    await room.add("M2", "5.00")
    (delivered,) = await receiver.wait_for(1)
    assert delivered.json["data"]["notification"]["kind"] == "MILESTONE_ADDED"
    assert len(receiver.received) == parked_attempts + 1, "a parked delivery was tried again"

    after = (await client.http.get("/metrics")).text
    assert _counter(after, "parked") - _counter(before, "parked") == 1
    assert _counter(after, "sent") - _counter(before, "sent") == 1
    assert _counter(after, "failed") - _counter(before, "failed") == parked_attempts - 1
