"""createContract and endContract, and what an ended contract refuses."""

from __future__ import annotations

import asyncio

from tests.helpers import (
    MALFORMED_ID,
    ZERO_ESCROW,
    Actor,
    assert_escrow_consistent,
    create_contract,
    create_contract_with_milestones,
    event_kinds,
    missing_id,
    mutate,
    offer_contract,
    pending_change_request,
    pending_refund_request,
    read_contract,
    refuse,
)

# --------------------------------------------------------------------------- createContract


async def test_create_contract_makes_the_viewer_the_client(
    client: Actor, freelancer: Actor
) -> None:
    freelancer_id = await freelancer.user_id()
    contract = await offer_contract(client, freelancer, title="Website redesign")

    assert contract["title"] == "Website redesign"
    assert contract["status"] == "OFFERED"
    assert contract["acceptedAt"] is None
    assert contract["invitedEmail"] is None
    assert contract["currency"] == "USD"
    assert contract["viewerRole"] == "CLIENT"
    assert contract["client"]["id"] == await client.user_id()
    assert contract["freelancer"]["id"] == freelancer_id
    assert contract["milestones"] == []
    assert contract["activeMilestone"] is None
    assert contract["pendingChangeRequest"] is None
    assert contract["pendingRefundRequest"] is None
    assert contract["escrow"] == ZERO_ESCROW
    assert contract["createdAt"]
    assert contract["endedAt"] is None


async def test_create_contract_is_logged_and_seen_by_the_freelancer(
    client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer)

    as_freelancer = await room.read(freelancer)
    assert as_freelancer["viewerRole"] == "FREELANCER"
    assert as_freelancer["client"]["id"] == await client.user_id()
    assert as_freelancer["freelancer"]["id"] == await freelancer.user_id()
    assert event_kinds(as_freelancer) == ["CONTRACT_OFFERED", "CONTRACT_ACCEPTED"]
    offered, accepted = (edge["node"] for edge in as_freelancer["events"]["edges"])
    assert offered["actor"]["id"] == await client.user_id()
    assert offered["contract"]["id"] == room.contract_id
    assert accepted["actor"]["id"] == await freelancer.user_id()
    assert as_freelancer["status"] == "ACTIVE" and as_freelancer["acceptedAt"]


async def test_create_contract_with_currency(client: Actor, freelancer: Actor) -> None:
    contract = await create_contract(client, freelancer, currency="EUR")
    assert contract["currency"] == "EUR"


async def test_create_contract_validation(client: Actor, freelancer: Actor) -> None:
    freelancer_id = await freelancer.user_id()
    client_id = await client.user_id()
    for title in ["", "   ", "x" * 201]:
        await refuse(
            client,
            "createContract",
            {"title": title, "freelancerId": freelancer_id},
            "VALIDATION",
            field="title",
        )
    for bad_freelancer in [missing_id("User"), MALFORMED_ID, client_id]:
        await refuse(
            client,
            "createContract",
            {"title": "Website", "freelancerId": bad_freelancer},
            "VALIDATION",
            field="freelancerId",
        )
    await refuse(
        client,
        "createContract",
        {"title": "Website", "freelancerId": freelancer_id, "currency": "DOLLARS"},
        "VALIDATION",
        field="currency",
    )
    # Nothing was created by the refusals.
    contracts = await client.gql("{ contracts { edges { node { id } } } }")
    assert contracts["contracts"]["edges"] == []


async def test_create_contract_title_of_200_characters_is_accepted(
    client: Actor, freelancer: Actor
) -> None:
    contract = await create_contract(client, freelancer, title="x" * 200)
    assert contract["title"] == "x" * 200


# --------------------------------------------------------------------------- endContract


async def test_end_contract_by_client(client: Actor, freelancer: Actor) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])

    payload = await room.end()

    contract = payload["contract"]
    assert contract["status"] == "ENDED"
    assert contract["endedAt"]
    # Upcoming milestones stay as they are.
    assert [m["status"] for m in contract["milestones"]] == ["UPCOMING"]
    state = await room.read()
    assert event_kinds(state)[-1] == "CONTRACT_ENDED"
    assert len(event_kinds(state)) == 4
    assert state["events"]["edges"][-1]["node"]["actor"]["id"] == await client.user_id()


async def test_end_contract_by_freelancer(client: Actor, freelancer: Actor) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])

    payload = await room.end(freelancer)

    assert payload["contract"]["status"] == "ENDED"
    assert payload["contract"]["viewerRole"] == "FREELANCER"
    state = await room.read()
    assert event_kinds(state)[-1] == "CONTRACT_ENDED"
    assert state["events"]["edges"][-1]["node"]["actor"]["id"] == await freelancer.user_id()


async def test_end_contract_not_found_for_outsider_and_bad_ids(
    client: Actor, freelancer: Actor, outsider: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    await refuse(outsider, "endContract", {"contractId": room.contract_id}, "NOT_FOUND", room=room)
    for bad_id in [missing_id("Contract"), MALFORMED_ID, room.milestone(0)]:
        await refuse(
            client,
            "endContract",
            {"contractId": bad_id},
            "NOT_FOUND",
            field="contractId",
            room=room,
        )


async def test_end_contract_twice_is_contract_ended(client: Actor, freelancer: Actor) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    await room.end()
    await refuse(
        freelancer, "endContract", {"contractId": room.contract_id}, "CONTRACT_ENDED", room=room
    )


async def test_end_contract_with_funded_active_milestone_is_funds_in_escrow(
    client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    await room.activate(0)
    for actor in (client, freelancer):
        await refuse(
            actor, "endContract", {"contractId": room.contract_id}, "FUNDS_IN_ESCROW", room=room
        )
    await room.submit(0)
    await refuse(
        client, "endContract", {"contractId": room.contract_id}, "FUNDS_IN_ESCROW", room=room
    )


async def test_end_contract_allowed_after_active_milestone_refunded(
    client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    await room.activate(0)
    refund_request_id = await pending_refund_request(room)
    await room.respond_to_refund(refund_request_id, "ACCEPT")

    payload = await room.end()

    assert payload["contract"]["status"] == "ENDED"
    assert payload["contract"]["escrow"] == {
        "held": "0.00",
        "available": "0.00",
        "totalFunded": "100.00",
        "totalReleased": "0.00",
        "totalRefunded": "100.00",
        "totalBonus": "0.00",
    }


async def test_ending_contract_refunds_available_to_client(
    client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["1000.00", "500.00"])
    await room.activate(0)
    await room.approve(0, release="700.00")
    before = await room.read()
    assert before["escrow"]["available"] == "300.00"

    payload = await room.end()

    contract = payload["contract"]
    assert contract["escrow"] == {
        "held": "0.00",
        "available": "0.00",
        "totalFunded": "1000.00",
        "totalReleased": "700.00",
        "totalRefunded": "300.00",
        "totalBonus": "0.00",
    }
    assert_escrow_consistent(await room.read())
    # The upcoming milestone is left as it was.
    assert contract["milestones"][1]["status"] == "UPCOMING"
    assert contract["milestones"][1]["fundedAmount"] == "0.00"


async def test_ending_contract_declines_pending_change_request(
    client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    change_request_id = await pending_change_request(room)
    events_before = event_kinds(await room.read())

    payload = await room.end()

    assert payload["contract"]["pendingChangeRequest"] is None
    state = await room.read()
    (change_request,) = [edge["node"] for edge in state["changeRequests"]["edges"]]
    assert change_request["id"] == change_request_id
    assert change_request["status"] == "DECLINED"
    assert change_request["responseMessage"] == "The contract ended."
    assert change_request["respondedAt"]
    # Nothing of the request was applied.
    assert [m["title"] for m in state["milestones"]] == ["M1"]
    assert event_kinds(state) == [*events_before, "CONTRACT_ENDED"]


async def test_approve_with_end_contract_ends_it(client: Actor, freelancer: Actor) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["1000.00", "200.00"])
    await room.activate(0)

    payload = await room.approve(0, release="600.00", end_contract=True)

    contract = payload["contract"]
    assert contract["status"] == "ENDED"
    assert contract["endedAt"]
    assert payload["milestone"]["status"] == "RELEASED"
    assert contract["escrow"] == {
        "held": "0.00",
        "available": "0.00",
        "totalFunded": "1000.00",
        "totalReleased": "600.00",
        "totalRefunded": "400.00",
        "totalBonus": "0.00",
    }
    assert contract["milestones"][1]["status"] == "UPCOMING"
    state = await room.read()
    assert event_kinds(state)[-2:] == ["MILESTONE_APPROVED", "CONTRACT_ENDED"]
    assert_escrow_consistent(state)


async def test_ended_contract_refuses_every_change(client: Actor, freelancer: Actor) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00", "200.00", "300.00"])
    # A change request that ending the contract declines, and a declined refund request.
    await room.activate(0)
    refund_request_id = await pending_refund_request(room)
    await room.respond_to_refund(refund_request_id, "DECLINE")
    await room.approve(0)
    change_request_id = await pending_change_request(room)
    await room.end()

    upcoming = room.milestone(1)
    attempts: list[tuple[Actor, str, dict[str, object]]] = [
        (client, "addMilestone", {"contractId": room.contract_id, "title": "X", "amount": "1"}),
        (client, "editMilestone", {"milestoneId": upcoming, "title": "Renamed"}),
        (client, "deleteMilestone", {"milestoneId": upcoming}),
        (client, "activateMilestone", {"milestoneId": upcoming}),
        (freelancer, "submitMilestone", {"milestoneId": upcoming}),
        (client, "rejectSubmission", {"milestoneId": upcoming}),
        (client, "approveMilestone", {"milestoneId": upcoming, "endContract": False}),
        (client, "requestEscrowRefund", {"milestoneId": upcoming}),
        (
            freelancer,
            "respondToRefundRequest",
            {"refundRequestId": refund_request_id, "decision": "ACCEPT"},
        ),
        (client, "endContract", {"contractId": room.contract_id}),
        (freelancer, "endContract", {"contractId": room.contract_id}),
        (
            freelancer,
            "requestMilestoneChanges",
            {
                "contractId": room.contract_id,
                "changes": [{"kind": "ADD", "title": "More", "amount": "10"}],
            },
        ),
        (
            client,
            "respondToChangeRequest",
            {"changeRequestId": change_request_id, "decision": "ACCEPT"},
        ),
        (freelancer, "withdrawChangeRequest", {"changeRequestId": change_request_id}),
    ]
    for actor, name, input in attempts:
        await refuse(actor, name, input, "CONTRACT_ENDED", room=room)


async def test_ended_contract_is_still_readable_by_both_parties(
    client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    await room.end()
    for actor in (client, freelancer):
        contract = await read_contract(actor, room.contract_id)
        assert contract is not None
        assert contract["status"] == "ENDED"


async def test_concurrent_end_and_activate_never_leave_funds_in_an_ended_contract(
    client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])

    ended, activated = await asyncio.gather(
        mutate(freelancer, "endContract", {"contractId": room.contract_id}),
        mutate(client, "activateMilestone", {"milestoneId": room.milestone(0)}),
    )

    outcomes = {
        (e["code"] if (e := (ended["userErrors"] or [None])[0]) else "OK"),
        (a["code"] if (a := (activated["userErrors"] or [None])[0]) else "OK"),
    }
    assert outcomes in ({"OK", "CONTRACT_ENDED"}, {"OK", "FUNDS_IN_ESCROW"})
    state = await room.read()
    statuses = [m["status"] for m in state["milestones"]]
    assert not (state["status"] == "ENDED" and "ACTIVE" in statuses)
    assert_escrow_consistent(state)
