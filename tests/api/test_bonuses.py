"""Bonuses: `sendBonus` and `approveMilestone(bonusAmount)`; deposited and released at once."""

from __future__ import annotations

from tests.helpers import (
    Actor,
    assert_escrow_consistent,
    create_contract_with_milestones,
    event_kinds,
    notification_nodes,
    ok,
    refuse,
)


async def test_send_bonus_is_funded_and_released_at_once(client: Actor, freelancer: Actor) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    await room.activate(0)

    payload = await ok(
        client,
        "sendBonus",
        {"contractId": room.contract_id, "amount": "25.50", "message": "Great work"},
    )

    escrow = payload["contract"]["escrow"]
    assert escrow == {
        "held": "100.00",
        "available": "0.00",
        "totalFunded": "125.50",
        "totalReleased": "25.50",
        "totalRefunded": "0.00",
        "totalBonus": "25.50",
    }
    state = await room.read()
    assert_escrow_consistent(state)
    assert event_kinds(state)[-1] == "BONUS_PAID"
    (latest, *_) = await notification_nodes(freelancer)
    assert latest["kind"] == "BONUS_PAID"
    assert "25.50 USD" in latest["message"]


async def test_approve_with_a_bonus_releases_the_milestone_and_pays_the_bonus(
    client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00", "50.00"])
    await room.activate(0)

    payload = await room.approve(0, release="60.00", bonusAmount="10.00")

    escrow = payload["contract"]["escrow"]
    assert escrow["totalFunded"] == "110.00"
    assert escrow["totalReleased"] == "70.00"
    assert escrow["totalBonus"] == "10.00"
    assert escrow["available"] == "40.00"  # the bonus never becomes available balance
    assert payload["milestone"]["releasedAmount"] == "60.00"  # the bonus is not the milestone's
    state = await room.read()
    assert_escrow_consistent(state)
    assert event_kinds(state)[-2:] == ["MILESTONE_APPROVED", "BONUS_PAID"]


async def test_send_bonus_is_idempotent(client: Actor, freelancer: Actor) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    input = {"contractId": room.contract_id, "amount": "5.00", "idempotencyKey": "bonus-1"}

    first = await ok(client, "sendBonus", input)
    again = await ok(client, "sendBonus", input)

    assert again == first
    assert (await room.read())["escrow"]["totalBonus"] == "5.00"
    await refuse(client, "sendBonus", {**input, "amount": "6.00"}, "IDEMPOTENCY_CONFLICT")


async def test_send_bonus_validates_the_amount(client: Actor, freelancer: Actor) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    for amount in ("0", "-1.00", "1.001", "10000000.00"):
        await refuse(
            client,
            "sendBonus",
            {"contractId": room.contract_id, "amount": amount},
            "VALIDATION",
            field="amount",
        )
    await refuse(
        client,
        "approveMilestone",
        {"milestoneId": room.milestone(0), "endContract": False, "bonusAmount": "0"},
        "VALIDATION",
        field="bonusAmount",
    )


async def test_no_bonus_on_an_ended_contract(client: Actor, freelancer: Actor) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    await room.end()

    await refuse(
        client, "sendBonus", {"contractId": room.contract_id, "amount": "5.00"}, "CONTRACT_ENDED"
    )


async def test_only_the_client_sends_a_bonus(client: Actor, freelancer: Actor) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])

    await refuse(
        freelancer, "sendBonus", {"contractId": room.contract_id, "amount": "5.00"}, "FORBIDDEN"
    )
