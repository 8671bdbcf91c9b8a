"""Ending a contract with money still in escrow: the client pays `payAmount` and asks the rest
back with a refund request; the freelancer gives everything back at once."""

from __future__ import annotations

from tests.helpers import (
    Actor,
    Room,
    assert_escrow_consistent,
    create_contract_with_milestones,
    event_kinds,
    milestone_in,
    ok,
    pending_refund_request,
    refuse,
)


async def _funded(client: Actor, freelancer: Actor, *, available: bool = False) -> Room:
    """M1 (1000.00) funded; with `available`: nothing funded, 300.00 available."""
    if not available:
        room = await create_contract_with_milestones(client, freelancer, ["1000.00", "400.00"])
        await room.activate(0)
        return room
    room = await create_contract_with_milestones(
        client, freelancer, ["1000.00", "1000.00", "400.00"]
    )
    await room.activate(0)
    await room.approve(0, release="700.00")
    await room.activate(1)  # 300.00 of available pays for it first
    await room.approve(1, release="700.00")  # available is 300.00 again
    return room


async def test_client_pays_part_from_the_active_milestone_and_asks_the_rest_back(
    client: Actor, freelancer: Actor
) -> None:
    room = await _funded(client, freelancer)
    await room.submit(0)

    payload = await room.end(payAmount="250.00", message="Parting ways")

    contract = payload["contract"]
    assert contract["status"] == "ENDED"
    assert contract["escrow"]["totalReleased"] == "250.00"
    assert contract["escrow"]["held"] == "750.00"
    active = milestone_in(contract, room.milestone(0))
    assert active["status"] == "SUBMITTED"  # still holds money until the refund is answered
    assert active["releasedAmount"] == "250.00"
    refund = contract["pendingRefundRequest"]
    assert refund["amount"] == "750.00"
    assert refund["milestone"] == {"id": room.milestone(0)}
    assert refund["requestedBy"]["id"] == await client.user_id()
    assert refund["respondBy"]
    state = await room.read()
    assert event_kinds(state)[-2:] == ["CONTRACT_ENDED", "REFUND_REQUESTED"]
    assert_escrow_consistent(state)

    accepted = await room.respond_to_refund(refund["id"], "ACCEPT")

    # Part of it was released: the milestone that gave back the rest ends RELEASED.
    assert accepted["milestone"]["status"] == "RELEASED"
    assert accepted["contract"]["escrow"]["held"] == "0.00"
    assert accepted["contract"]["escrow"]["totalRefunded"] == "750.00"
    assert_escrow_consistent(await room.read())


async def test_a_milestone_that_released_nothing_ends_refunded(
    client: Actor, freelancer: Actor
) -> None:
    room = await _funded(client, freelancer)
    payload = await room.end(payAmount="0.00")
    refund = payload["contract"]["pendingRefundRequest"]
    assert refund["amount"] == "1000.00"

    accepted = await room.respond_to_refund(refund["id"], "ACCEPT")

    assert accepted["milestone"]["status"] == "REFUNDED"
    assert accepted["contract"]["escrow"]["totalRefunded"] == "1000.00"


async def test_paying_everything_held_leaves_nothing_to_ask_back(
    client: Actor, freelancer: Actor
) -> None:
    room = await _funded(client, freelancer, available=True)
    held = (await room.read())["escrow"]["held"]
    assert held == "300.00"

    payload = await room.end(payAmount=held)

    contract = payload["contract"]
    assert contract["pendingRefundRequest"] is None
    assert contract["escrow"]["held"] == "0.00"
    assert event_kinds(await room.read())[-1] == "CONTRACT_ENDED"


async def test_pay_comes_from_the_active_milestone_first_then_available(
    client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00", "30.00"])
    await room.activate(0)
    await room.approve(0, release="50.00")  # 50.00 available
    await room.activate(1)  # 30.00 from available: M2 holds 30.00, 20.00 still available
    state = await room.read()
    assert (state["escrow"]["available"], state["escrow"]["held"]) == ("20.00", "50.00")

    payload = await room.end(payAmount="40.00")

    contract = payload["contract"]
    active = milestone_in(contract, room.milestone(1))
    # The active milestone's 30.00 first (all of it: RELEASED), then 10.00 of available.
    assert active["status"] == "RELEASED"
    assert active["releasedAmount"] == "30.00"
    assert contract["escrow"]["totalReleased"] == "90.00"
    refund = contract["pendingRefundRequest"]
    assert refund["amount"] == "10.00"
    assert refund["milestone"] is None  # only `available` money is left
    accepted = await room.respond_to_refund(refund["id"], "ACCEPT")
    assert accepted["contract"]["escrow"]["held"] == "0.00"
    assert accepted["contract"]["escrow"]["totalRefunded"] == "10.00"
    assert_escrow_consistent(await room.read())


async def create_active(room: Room) -> None:
    """Add and fund one more milestone of 100.00."""
    added = await room.add("Extra", "100.00")
    room.milestone_ids.append(added["milestone"]["id"])
    await room.activate(len(room.milestone_ids) - 1)


async def test_freelancer_ending_gives_everything_held_back_at_once(
    client: Actor, freelancer: Actor
) -> None:
    room = await _funded(client, freelancer, available=True)
    await create_active(room)

    payload = await room.end(freelancer)

    contract = payload["contract"]
    assert contract["status"] == "ENDED"
    assert contract["pendingRefundRequest"] is None
    assert contract["escrow"]["held"] == "0.00"
    assert milestone_in(contract, room.milestone(3))["status"] == "REFUNDED"
    assert contract["escrow"]["totalRefunded"] == "300.00"  # 100.00 of Extra, 200.00 available
    assert_escrow_consistent(await room.read())


async def test_pay_amount_is_validated(client: Actor, freelancer: Actor) -> None:
    room = await _funded(client, freelancer)
    end = {"contractId": room.contract_id}
    for amount in ("1000.01", "-1.00", "1.001", "abc"):
        await refuse(
            client,
            "endContract",
            {**end, "payAmount": amount},
            "VALIDATION",
            field="payAmount",
            room=room,
        )
    # Only the client pays.
    await refuse(
        freelancer,
        "endContract",
        {**end, "payAmount": "1.00"},
        "VALIDATION",
        field="payAmount",
        room=room,
    )
    await ok(client, "endContract", {**end, "payAmount": "0"})


async def test_ending_waits_for_a_pending_refund_request(client: Actor, freelancer: Actor) -> None:
    room = await _funded(client, freelancer)
    await pending_refund_request(room)
    for actor in (client, freelancer):
        await refuse(
            actor,
            "endContract",
            {"contractId": room.contract_id},
            "REFUND_REQUEST_PENDING",
            room=room,
        )


async def test_the_escrow_refund_of_an_ended_contract_cannot_be_declined(
    client: Actor, freelancer: Actor
) -> None:
    room = await _funded(client, freelancer)
    refund = (await room.end())["contract"]["pendingRefundRequest"]

    await refuse(
        freelancer,
        "respondToRefundRequest",
        {"refundRequestId": refund["id"], "decision": "DECLINE"},
        "VALIDATION",
        field="decision",
        room=room,
    )
    # On an ended contract only the refund request (or a dispute) moves money.
    await refuse(
        client,
        "approveMilestone",
        {"milestoneId": room.milestone(0), "endContract": False},
        "CONTRACT_ENDED",
        room=room,
    )


async def test_approve_and_end_asks_the_leftover_back(client: Actor, freelancer: Actor) -> None:
    room = await _funded(client, freelancer)

    payload = await room.approve(0, release="900.00", end_contract=True)

    contract = payload["contract"]
    assert payload["milestone"]["status"] == "RELEASED"
    assert contract["status"] == "ENDED"
    refund = contract["pendingRefundRequest"]
    assert (refund["amount"], refund["milestone"]) == ("100.00", None)
    assert contract["escrow"]["held"] == "100.00"
