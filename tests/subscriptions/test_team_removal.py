"""A member removed from a team party loses its rooms' live streams too, within 5 s."""

from __future__ import annotations

import time

from tests.helpers import Actor, ApiClient, ok, remove_team_member
from tests.subscriptions.wsclient import subscribed_client
from tests.teams.parties import client_company

WITHIN_SECONDS = 5.0


async def test_removal_ends_the_members_open_room_subscription_with_not_found(
    server_url: str, api: ApiClient, freelancer: Actor
) -> None:
    company = await client_company(api, freelancer)
    contract_id = company.room.contract_id
    async with (
        subscribed_client(server_url, company.admin.token) as removed,
        subscribed_client(server_url, company.member.token) as staying,
    ):
        await removed.subscribe_events("e", contract_id)
        await removed.subscribe_notifications("n")
        await staying.subscribe_events("e", contract_id)
        await removed.expect_silence(0.3)
        # Live before the removal.
        await ok(
            company.owner,
            "addMilestone",
            {"contractId": contract_id, "title": "M1", "amount": "10.00"},
        )
        (event,) = await removed.take("e", 1)
        assert event["kind"] == "MILESTONE_ADDED"
        await staying.take("e", 1)

        started = time.monotonic()
        await remove_team_member(company.owner, company.team_id, "adam@corp.example")
        message = await removed.receive(WITHIN_SECONDS)
        while message.get("id") != "e" or message["type"] == "ping":
            message = await removed.receive(WITHIN_SECONDS)
        elapsed = time.monotonic() - started
        assert message["type"] == "error", message
        assert [e["extensions"]["code"] for e in message["payload"]] == ["NOT_FOUND"]
        assert elapsed < WITHIN_SECONDS

        # The others' streams go on; the removed member's own notifications stream too.
        await ok(
            freelancer,
            "requestMilestoneChanges",
            {"contractId": contract_id, "changes": [{"kind": "ADD", "title": "X", "amount": "5"}]},
        )
        (event,) = await staying.take("e", 1)
        assert event["kind"] == "CHANGE_REQUEST_SUBMITTED"
        await removed.expect_silence(0.5)
        # Subscribing again is refused as an outsider's would be.
        await removed.subscribe_events("again", contract_id)
        refused = await removed.receive()
        assert refused["type"] == "error", refused
        assert refused["payload"][0]["extensions"]["code"] == "NOT_FOUND"
