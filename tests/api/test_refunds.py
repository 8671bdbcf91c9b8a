"""requestEscrowRefund and respondToRefundRequest."""

from __future__ import annotations

from tests.helpers import (
    MALFORMED_ID,
    Actor,
    assert_escrow_consistent,
    create_contract_with_milestones,
    event_kinds,
    missing_id,
    notification_nodes,
    ok,
    pending_refund_request,
    refuse,
)

# --------------------------------------------------------------------------- requestEscrowRefund


async def test_request_escrow_refund_opens_a_pending_refund_request(
    client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["1000.00"])
    await room.activate(0)

    payload = await room.request_refund(0, message="The project is cancelled")

    refund_request = payload["refundRequest"]
    assert refund_request["status"] == "PENDING"
    assert refund_request["amount"] == "1000.00"
    assert refund_request["message"] == "The project is cancelled"
    assert refund_request["milestone"]["id"] == room.milestone(0)
    assert refund_request["contract"]["id"] == room.contract_id
    assert refund_request["requestedBy"]["id"] == await client.user_id()
    assert refund_request["respondedAt"] is None
    assert payload["milestone"]["id"] == room.milestone(0)
    assert payload["milestone"]["status"] == "ACTIVE"
    assert payload["contract"]["pendingRefundRequest"]["id"] == refund_request["id"]
    # Asking moves no money.
    assert payload["contract"]["escrow"]["held"] == "1000.00"
    assert payload["contract"]["escrow"]["totalRefunded"] == "0.00"
    state = await room.read()
    assert event_kinds(state)[-1] == "REFUND_REQUESTED"
    assert state["events"]["edges"][-1]["node"]["refundRequest"]["id"] == refund_request["id"]
    (latest, *_) = await notification_nodes(freelancer)
    assert latest["kind"] == "REFUND_REQUESTED"
    assert latest["refundRequest"]["id"] == refund_request["id"]


async def test_refund_can_be_requested_for_a_submitted_milestone(
    client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    await room.activate(0)
    await room.submit(0)

    payload = await room.request_refund(0)

    assert payload["refundRequest"]["status"] == "PENDING"
    assert payload["milestone"]["status"] == "SUBMITTED"


async def test_refund_needs_an_active_or_submitted_milestone(
    client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00", "200.00"])
    await refuse(
        client,
        "requestEscrowRefund",
        {"milestoneId": room.milestone(0)},
        "MILESTONE_NOT_ACTIVE",
        room=room,
    )
    await room.activate(0)
    await room.approve(0)
    await refuse(
        client,
        "requestEscrowRefund",
        {"milestoneId": room.milestone(0)},
        "MILESTONE_NOT_ACTIVE",
        room=room,
    )


async def test_request_refund_by_freelancer_is_forbidden(client: Actor, freelancer: Actor) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    await room.activate(0)
    await refuse(
        freelancer,
        "requestEscrowRefund",
        {"milestoneId": room.milestone(0)},
        "FORBIDDEN",
        room=room,
    )


async def test_request_refund_not_found_for_outsider_and_bad_ids(
    client: Actor, freelancer: Actor, outsider: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    await room.activate(0)
    await refuse(
        outsider,
        "requestEscrowRefund",
        {"milestoneId": room.milestone(0)},
        "NOT_FOUND",
        field="milestoneId",
        room=room,
    )
    for bad_id in [missing_id("Milestone"), MALFORMED_ID, room.contract_id]:
        await refuse(
            client,
            "requestEscrowRefund",
            {"milestoneId": bad_id},
            "NOT_FOUND",
            field="milestoneId",
            room=room,
        )


async def test_second_refund_request_while_one_is_pending(client: Actor, freelancer: Actor) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    await room.activate(0)
    await pending_refund_request(room)
    await refuse(
        client,
        "requestEscrowRefund",
        {"milestoneId": room.milestone(0)},
        "REFUND_REQUEST_PENDING",
        room=room,
    )


async def test_refund_request_message_is_at_most_5000_characters(
    client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    await room.activate(0)
    await refuse(
        client,
        "requestEscrowRefund",
        {"milestoneId": room.milestone(0), "message": "x" * 5001},
        "VALIDATION",
        field="message",
        room=room,
    )
    payload = await room.request_refund(0, message="x" * 5000)
    assert payload["refundRequest"]["message"] == "x" * 5000


# --------------------------------------------------------------------------- responding


async def test_accepted_refund_returns_funds_to_client(client: Actor, freelancer: Actor) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["1000.00", "500.00"])
    await room.activate(0)
    refund_request_id = await pending_refund_request(room)

    payload = await room.respond_to_refund(refund_request_id, "ACCEPT")

    assert payload["refundRequest"]["status"] == "ACCEPTED"
    assert payload["refundRequest"]["respondedAt"]
    milestone = payload["milestone"]
    assert milestone["status"] == "REFUNDED"
    assert milestone["fundedAmount"] == "1000.00"
    assert milestone["refundedAmount"] == "1000.00"
    assert milestone["releasedAmount"] == "0.00"
    contract = payload["contract"]
    assert contract["activeMilestone"] is None
    assert contract["pendingRefundRequest"] is None
    assert contract["escrow"] == {
        "held": "0.00",
        "available": "0.00",
        "totalFunded": "1000.00",
        "totalReleased": "0.00",
        "totalRefunded": "1000.00",
        "totalBonus": "0.00",
    }
    state = await room.read()
    assert_escrow_consistent(state)
    assert event_kinds(state)[-1] == "REFUND_ACCEPTED"
    (latest, *_) = await notification_nodes(client)
    assert latest["kind"] == "REFUND_ACCEPTED"


async def test_accepted_refund_of_milestone_paid_from_available(
    client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["1000.00", "500.00"])
    await room.activate(0)
    await room.approve(0, release="200.00")
    await room.activate(1)
    refund_request_id = await pending_refund_request(room, 1)

    payload = await room.respond_to_refund(refund_request_id, "ACCEPT")

    assert payload["refundRequest"]["amount"] == "500.00"
    assert payload["milestone"]["refundedAmount"] == "500.00"
    assert payload["contract"]["escrow"] == {
        "held": "300.00",
        "available": "300.00",
        "totalFunded": "1000.00",
        "totalReleased": "200.00",
        "totalRefunded": "500.00",
        "totalBonus": "0.00",
    }
    assert_escrow_consistent(await room.read())


async def test_declined_refund_changes_nothing_else(client: Actor, freelancer: Actor) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["1000.00"])
    await room.activate(0)
    await room.submit(0)
    refund_request_id = await pending_refund_request(room)
    before = await room.read()

    payload = await room.respond_to_refund(refund_request_id, "DECLINE")

    assert payload["refundRequest"]["status"] == "DECLINED"
    assert payload["refundRequest"]["respondedAt"]
    after = await room.read()
    assert after["pendingRefundRequest"] is None
    assert after["milestones"] == before["milestones"]
    assert after["escrow"] == before["escrow"]
    assert event_kinds(after) == [*event_kinds(before), "REFUND_DECLINED"]
    (latest, *_) = await notification_nodes(client)
    assert latest["kind"] == "REFUND_DECLINED"
    # The client may approve again now.
    assert (await room.approve(0))["milestone"]["status"] == "RELEASED"


async def test_refund_response_message(client: Actor, freelancer: Actor) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    await room.activate(0)
    refund_request_id = await pending_refund_request(room)
    await refuse(
        freelancer,
        "respondToRefundRequest",
        {"refundRequestId": refund_request_id, "decision": "DECLINE", "message": "x" * 5001},
        "VALIDATION",
        field="message",
        room=room,
    )
    payload = await ok(
        freelancer,
        "respondToRefundRequest",
        {
            "refundRequestId": refund_request_id,
            "decision": "DECLINE",
            "message": "The work is nearly done",
        },
    )
    assert payload["refundRequest"]["responseMessage"] == "The work is nearly done"


async def test_respond_to_refund_by_client_is_forbidden(client: Actor, freelancer: Actor) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    await room.activate(0)
    refund_request_id = await pending_refund_request(room)
    await refuse(
        client,
        "respondToRefundRequest",
        {"refundRequestId": refund_request_id, "decision": "ACCEPT"},
        "FORBIDDEN",
        room=room,
    )


async def test_respond_to_refund_not_found_for_outsider_and_bad_ids(
    client: Actor, freelancer: Actor, outsider: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    await room.activate(0)
    refund_request_id = await pending_refund_request(room)
    await refuse(
        outsider,
        "respondToRefundRequest",
        {"refundRequestId": refund_request_id, "decision": "ACCEPT"},
        "NOT_FOUND",
        field="refundRequestId",
        room=room,
    )
    for bad_id in [missing_id("RefundRequest"), MALFORMED_ID, room.milestone(0)]:
        await refuse(
            freelancer,
            "respondToRefundRequest",
            {"refundRequestId": bad_id, "decision": "ACCEPT"},
            "NOT_FOUND",
            field="refundRequestId",
            room=room,
        )


async def test_respond_to_refund_twice_is_not_pending(client: Actor, freelancer: Actor) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    await room.activate(0)
    refund_request_id = await pending_refund_request(room)
    await room.respond_to_refund(refund_request_id, "DECLINE")
    for decision in ("ACCEPT", "DECLINE"):
        await refuse(
            freelancer,
            "respondToRefundRequest",
            {"refundRequestId": refund_request_id, "decision": decision},
            "NOT_PENDING",
            room=room,
        )


async def test_refund_request_blocks_submit_approve_reject(
    client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    await room.activate(0)
    await pending_refund_request(room)
    milestone = {"milestoneId": room.milestone(0)}
    await refuse(freelancer, "submitMilestone", milestone, "REFUND_REQUEST_PENDING", room=room)
    await refuse(
        client,
        "approveMilestone",
        {**milestone, "endContract": False},
        "REFUND_REQUEST_PENDING",
        room=room,
    )


async def test_refund_request_blocks_reject_and_approve_of_submitted_milestone(
    client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    await room.activate(0)
    await room.submit(0)
    await pending_refund_request(room)
    milestone = {"milestoneId": room.milestone(0)}
    await refuse(client, "rejectSubmission", milestone, "REFUND_REQUEST_PENDING", room=room)
    await refuse(
        client,
        "approveMilestone",
        {**milestone, "endContract": True},
        "REFUND_REQUEST_PENDING",
        room=room,
    )
