"""A mediator's live view: the room a dispute took to mediation, read-only, over WebSocket;
before that, the same NOT_FOUND error an outsider gets."""

from __future__ import annotations

from tests.helpers import Actor, create_contract_with_milestones, ok
from tests.subscriptions.wsclient import subscribed_client


async def test_a_mediator_follows_a_room_once_its_dispute_is_in_mediation(
    server_url: str, client: Actor, freelancer: Actor, mediator: Actor
) -> None:
    await mediator.user_id()
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    await room.activate(0)
    await room.submit(0)
    dispute_id = (await room.open_dispute(milestoneId=room.milestone(0)))["dispute"]["id"]
    async with subscribed_client(server_url, mediator.token) as ws:
        await ws.subscribe_events("early", room.contract_id)
        refused = await ws.receive()
        assert refused["type"] == "error" and refused["id"] == "early", refused
        assert [e["extensions"]["code"] for e in refused["payload"]] == ["NOT_FOUND"]

        await ws.subscribe_notifications("mine")
        await ws.expect_silence(0.3)  # subscribed: live from here on
        await room.respond_to_dispute(dispute_id, "REJECT")
        (told,) = await ws.take("mine", 1)
        assert told["kind"] == "DISPUTE_ESCALATED"
        assert told["contract"]["id"] == room.contract_id

        await ws.subscribe_events("room", room.contract_id)
        await ws.expect_silence(0.3)
        await ok(mediator, "resolveDispute", {"disputeId": dispute_id, "releaseAmount": "60.00"})
        (event,) = await ws.take("room", 1)
        assert event["kind"] == "DISPUTE_RESOLVED"
        assert event["actor"]["id"] == await mediator.user_id()
