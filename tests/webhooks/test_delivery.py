"""Notifications reach webhook endpoints signed per Standard Webhooks, retried with the same
`webhook-id`, delivered once, and in cursor order per endpoint."""

from __future__ import annotations

import datetime as dt

from tests.conftest import Actor
from tests.helpers import create_contract_with_milestones, ok
from tests.webhooks.documents import created_endpoint, deliveries, deliveries_once
from tests.webhooks.receiver import Receiver, always, fail_first


async def test_retried_with_the_same_id_signed_and_delivered_once(
    client: Actor, freelancer: Actor, receiver: Receiver
) -> None:
    receiver.answer = fail_first(2)
    endpoint_id, secret = await created_endpoint(
        freelancer, url=receiver.url + "/hooks", kinds=["MILESTONE_ADDED"]
    )
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])

    (delivered,) = await receiver.wait_for(1)
    attempts = receiver.attempts_of(delivered.webhook_id)
    assert [attempt.status for attempt in attempts] == [503, 503, 200]
    for attempt in attempts:  # every attempt is signed afresh and verifies
        assert attempt.path == "/hooks"
        assert attempt.body == delivered.body
        attempt.verified(secret)
    body = delivered.verified(secret)
    notification = body["data"]["notification"]
    assert body["type"] == "MILESTONE_ADDED"
    assert notification["kind"] == "MILESTONE_ADDED"
    assert notification["contractId"] == room.contract_id
    assert notification["milestoneId"] == room.milestone_ids[0]
    assert notification["note"] is None
    assert set(notification) == {
        "id",
        "cursor",
        "kind",
        "message",
        "note",
        "amount",
        "createdAt",
        "contractId",
        "milestoneId",
    }
    assert dt.datetime.fromisoformat(body["timestamp"]) == dt.datetime.fromisoformat(
        notification["createdAt"]
    )
    assert delivered.headers["content-type"] == "application/json"

    (shown,) = await deliveries_once(freelancer, endpoint_id, "DELIVERED")
    assert shown["webhookId"] == delivered.webhook_id
    assert shown["status"] == "DELIVERED"
    assert shown["attempts"] == 3
    assert shown["lastStatusCode"] == 200
    assert shown["nextAttemptAt"] is None and shown["deliveredAt"] is not None
    assert shown["notification"]["id"] == notification["id"]
    assert shown["notification"]["cursor"] == notification["cursor"]

    # Later work for the endpoint never sends the delivered one again.
    await room.add("M2", "50.00")
    await receiver.wait_for(2)
    assert len(receiver.attempts_of(delivered.webhook_id)) == 3


async def test_order_per_endpoint_and_a_failing_endpoint_holds_back_only_itself(
    client: Actor, freelancer: Actor, receiver: Receiver
) -> None:
    receiver.answer = lambda path, headers, earlier: 500 if path == "/a" and earlier < 2 else 200
    await created_endpoint(freelancer, url=receiver.url + "/a", kinds=["MILESTONE_ADDED"])
    await created_endpoint(freelancer, url=receiver.url + "/b", kinds=["MILESTONE_ADDED"])
    count = 5
    await create_contract_with_milestones(
        client, freelancer, [f"{n}.00" for n in range(1, count + 1)]
    )
    await receiver.wait_for(2 * count)

    for path in ("/a", "/b"):
        seen = [r for r in receiver.received if r.path == path]
        cursors = [r.json["data"]["notification"]["cursor"] for r in seen]
        # Each message's attempts come together, and messages come in cursor order.
        blocks = [c for index, c in enumerate(cursors) if index == 0 or cursors[index - 1] != c]
        assert len(blocks) == count, (path, cursors)
        assert len({r.webhook_id for r in seen}) == count
        sequence = [r.json["data"]["notification"]["cursor"] for r in seen if r.status == 200]
        assert sequence == blocks
    assert [r.status for r in receiver.received if r.path == "/b"] == [200] * count
    # The same notification has a distinct webhook-id per endpoint.
    ids_a = {r.webhook_id for r in receiver.received if r.path == "/a"}
    ids_b = {r.webhook_id for r in receiver.received if r.path == "/b"}
    assert not ids_a & ids_b


async def test_only_the_chosen_kinds_of_the_chosen_contract_are_sent(
    client: Actor, freelancer: Actor, receiver: Receiver
) -> None:
    chosen = await create_contract_with_milestones(client, freelancer, ["10.00"], title="Chosen")
    other = await create_contract_with_milestones(client, freelancer, ["10.00"], title="Other")
    endpoint_id, _ = await created_endpoint(
        freelancer,
        url=receiver.url,
        kinds=["MILESTONE_EDITED"],
        contractId=chosen.contract_id,
    )
    await chosen.add("Not edited", "5.00")  # another kind
    # another contract, then the chosen one
    await ok(client, "editMilestone", {"milestoneId": other.milestone_ids[0], "title": "Else"})
    await ok(client, "editMilestone", {"milestoneId": chosen.milestone_ids[0], "title": "Here"})

    (delivered,) = await receiver.wait_for(1)
    assert delivered.json["type"] == "MILESTONE_EDITED"
    assert delivered.json["data"]["notification"]["contractId"] == chosen.contract_id
    # The outbox holds rows only for what the endpoint chose (written with the notification).
    assert len(await deliveries(freelancer, endpoint_id)) == 1


async def test_redirects_are_not_followed_and_only_an_excerpt_is_kept(
    client: Actor, freelancer: Actor, receiver: Receiver
) -> None:
    receiver.answer = always(302)
    endpoint_id, _ = await created_endpoint(freelancer, url=receiver.url, kinds=["MILESTONE_ADDED"])
    await create_contract_with_milestones(client, freelancer, ["10.00"])
    await receiver.wait_for_attempts(2)
    assert all(r.path == "/" for r in receiver.received), "a redirect was followed"
    (shown,) = await deliveries(freelancer, endpoint_id)
    assert shown["status"] == "PENDING"
    assert shown["lastStatusCode"] == 302
    assert shown["nextAttemptAt"] is not None
    assert 0 < len(shown["lastError"]) <= 300  # the body was 800 bytes


async def test_a_delivered_webhook_is_pruned_after_retention_a_pending_one_is_not(
    client: Actor, freelancer: Actor, receiver: Receiver
) -> None:
    from milestones.domain.webhooks import prune_webhook_deliveries

    endpoint_id, _ = await created_endpoint(freelancer, url=receiver.url, kinds=["MILESTONE_ADDED"])
    room = await create_contract_with_milestones(client, freelancer, ["10.00"])
    await receiver.wait_for(1)
    receiver.answer = always(500)
    await room.add("M2", "5.00")
    assert await prune_webhook_deliveries(dt.timedelta(days=1)) == 0
    assert await prune_webhook_deliveries(dt.timedelta(0)) == 1
    (left,) = await deliveries(freelancer, endpoint_id)
    assert left["status"] == "PENDING"
