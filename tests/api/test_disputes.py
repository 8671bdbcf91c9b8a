"""openDispute, respondToDispute, resolveDispute; mediators; money frozen while one is open."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from milestones.domain import clock, deadlines
from tests.helpers import (
    MALFORMED_ID,
    NODE_QUERY,
    Actor,
    ApiClient,
    Room,
    assert_escrow_consistent,
    create_contract_with_milestones,
    event_kinds,
    milestone_in,
    missing_id,
    mutate,
    notification_nodes,
    ok,
    pending_change_request,
    pending_refund_request,
    read_contract,
    refuse,
)

DISPUTES_QUERY = """
query Disputes($status: DisputeStatus) {
  disputes(first: 50, status: $status) {
    edges { cursor node { id status amount contract { id viewerRole } } }
    pageInfo { hasNextPage }
  }
}
"""


def _iso(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


async def _submitted(client: Actor, freelancer: Actor, amount: str = "500.00") -> Room:
    room = await create_contract_with_milestones(client, freelancer, [amount, "200.00"])
    await room.activate(0)
    await room.submit(0)
    return room


async def _dispute_on_milestone(room: Room, message: str | None = "Please pay me") -> str:
    payload = await room.open_dispute(message, milestoneId=room.milestone(0))
    dispute_id: str = payload["dispute"]["id"]
    return dispute_id


async def _escalated(room: Room) -> str:
    dispute_id = await _dispute_on_milestone(room)
    await room.respond_to_dispute(dispute_id, "REJECT", "The work is not done")
    return dispute_id


async def _disputes(actor: Actor, status: str | None = None) -> list[dict[str, object]]:
    data = await actor.gql(DISPUTES_QUERY, {"status": status} if status else {})
    return [edge["node"] for edge in data["disputes"]["edges"]]


# --------------------------------------------------------------------------- opening


async def test_disputing_a_pending_refund_request_instead_of_answering_it(
    client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["800.00"])
    await room.activate(0)
    refund_request_id = await pending_refund_request(room)

    payload = await room.open_dispute("I did the work", refundRequestId=refund_request_id)

    dispute = payload["dispute"]
    assert dispute["status"] == "AWAITING_CLIENT"
    assert dispute["amount"] == "800.00"
    assert dispute["message"] == "I did the work"
    assert dispute["refundRequest"] == {"id": refund_request_id, "status": "DISPUTED"}
    assert dispute["milestone"] == {"id": room.milestone(0), "status": "ACTIVE"}
    assert dispute["openedBy"]["id"] == await freelancer.user_id()
    assert dispute["resolution"] is None and dispute["resolvedAt"] is None
    assert _iso(dispute["respondBy"]) - _iso(dispute["openedAt"]) == dt.timedelta(days=5)
    contract = payload["contract"]
    assert contract["openDispute"] == {"id": dispute["id"]}
    assert contract["pendingRefundRequest"] is None  # disputed, no longer pending
    assert contract["escrow"]["held"] == "800.00"  # frozen, nothing moved
    state = await room.read()
    assert event_kinds(state)[-1] == "DISPUTE_OPENED"
    assert [edge["node"]["id"] for edge in state["disputes"]["edges"]] == [dispute["id"]]
    (told,) = [n for n in await notification_nodes(client) if n["kind"] == "DISPUTE_OPENED"]
    assert "800.00 USD" in told["message"]
    assert not [n for n in await notification_nodes(freelancer) if n["kind"] == "DISPUTE_OPENED"]

    # The disputed refund request stays DISPUTED whatever the outcome.
    await room.respond_to_dispute(dispute["id"], "ACCEPT")
    data = await client.gql(
        NODE_QUERY.replace("__typename id", "... on RefundRequest { status }"),
        {"id": refund_request_id},
    )
    assert data["node"]["status"] == "DISPUTED"


async def test_disputing_the_active_milestone_after_a_submission(
    client: Actor, freelancer: Actor
) -> None:
    room = await _submitted(client, freelancer)

    payload = await room.open_dispute(milestoneId=room.milestone(0))

    dispute = payload["dispute"]
    assert (dispute["amount"], dispute["refundRequest"]) == ("500.00", None)
    assert dispute["milestone"] == {"id": room.milestone(0), "status": "SUBMITTED"}
    # The other kinds of object it may be read through.
    data = await freelancer.gql(NODE_QUERY, {"id": dispute["id"]})
    assert data["node"] == {"__typename": "Dispute", "id": dispute["id"]}


async def test_what_is_not_disputable(client: Actor, freelancer: Actor) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["500.00", "200.00"])
    # Upcoming, then active but never submitted.
    await refuse(
        freelancer,
        "openDispute",
        {"milestoneId": room.milestone(0)},
        "NOT_DISPUTABLE",
        field="milestoneId",
        room=room,
    )
    await room.activate(0)
    await refuse(
        freelancer,
        "openDispute",
        {"milestoneId": room.milestone(0)},
        "NOT_DISPUTABLE",
        field="milestoneId",
        room=room,
    )
    # A refund request answered already.
    refund_request_id = await pending_refund_request(room)
    await room.respond_to_refund(refund_request_id, "DECLINE")
    await refuse(
        freelancer,
        "openDispute",
        {"refundRequestId": refund_request_id},
        "NOT_DISPUTABLE",
        room=room,
    )
    # A released milestone.
    await room.submit(0)
    await room.approve(0)
    await refuse(
        freelancer,
        "openDispute",
        {"milestoneId": room.milestone(0)},
        "NOT_DISPUTABLE",
        room=room,
    )


async def test_a_milestone_with_a_pending_refund_request_is_disputed_through_the_request(
    client: Actor, freelancer: Actor
) -> None:
    room = await _submitted(client, freelancer)
    refund_request_id = await pending_refund_request(room)
    await refuse(
        freelancer,
        "openDispute",
        {"milestoneId": room.milestone(0)},
        "NOT_DISPUTABLE",
        room=room,
    )
    await room.open_dispute(refundRequestId=refund_request_id)


async def test_opening_refusals_in_order(client: Actor, freelancer: Actor, outsider: Actor) -> None:
    room = await _submitted(client, freelancer)
    target = {"milestoneId": room.milestone(0)}
    await refuse(outsider, "openDispute", target, "NOT_FOUND", room=room)
    for bad in (missing_id("Milestone"), MALFORMED_ID, room.contract_id):
        await refuse(freelancer, "openDispute", {"milestoneId": bad}, "NOT_FOUND", room=room)
    await refuse(client, "openDispute", target, "FORBIDDEN", room=room)
    await refuse(freelancer, "openDispute", {}, "VALIDATION", room=room)
    await refuse(
        freelancer,
        "openDispute",
        {**target, "refundRequestId": missing_id("RefundRequest")},
        "VALIDATION",
        room=room,
    )
    await refuse(
        freelancer,
        "openDispute",
        {**target, "message": "x" * 5001},
        "VALIDATION",
        field="message",
        room=room,
    )
    await _dispute_on_milestone(room)
    # One open dispute per contract.
    await refuse(freelancer, "openDispute", target, "DISPUTE_OPEN", room=room)


async def test_open_dispute_replays_with_its_idempotency_key(
    client: Actor, freelancer: Actor
) -> None:
    room = await _submitted(client, freelancer)
    input = {"milestoneId": room.milestone(0), "idempotencyKey": "dispute-1"}
    first = await ok(freelancer, "openDispute", input)
    again = await ok(freelancer, "openDispute", input)
    assert again["dispute"] == first["dispute"]
    assert event_kinds(await room.read()).count("DISPUTE_OPENED") == 1
    await refuse(
        freelancer,
        "openDispute",
        {**input, "message": "other"},
        "IDEMPOTENCY_CONFLICT",
        room=room,
    )


# --------------------------------------------------------------------------- frozen money


async def test_an_open_dispute_freezes_its_money(client: Actor, freelancer: Actor) -> None:
    room = await _submitted(client, freelancer)
    await room.reject(0)  # ACTIVE again, submitted once: disputable, and submit is tested
    await _dispute_on_milestone(room)
    m0 = room.milestone(0)
    frozen = [
        (client, "approveMilestone", {"milestoneId": m0, "endContract": False}),
        (client, "approveMilestone", {"milestoneId": m0, "endContract": True}),
        (freelancer, "submitMilestone", {"milestoneId": m0}),
        (client, "requestEscrowRefund", {"milestoneId": m0}),
        (client, "endContract", {"contractId": room.contract_id}),
        (client, "endContract", {"contractId": room.contract_id, "payAmount": "10.00"}),
        (freelancer, "endContract", {"contractId": room.contract_id}),
    ]
    for actor, name, input in frozen:
        await refuse(actor, name, input, "DISPUTE_OPEN", room=room)
    # Change requests and upcoming milestones are unaffected.
    await pending_change_request(room)
    await room.respond_to_changes((await room.read())["pendingChangeRequest"]["id"], "ACCEPT")
    await ok(client, "editMilestone", {"milestoneId": room.milestone(1), "title": "Renamed"})


async def test_rejecting_a_submission_is_frozen_too(client: Actor, freelancer: Actor) -> None:
    room = await _submitted(client, freelancer)
    await _dispute_on_milestone(room)
    await refuse(
        client, "rejectSubmission", {"milestoneId": room.milestone(0)}, "DISPUTE_OPEN", room=room
    )


# --------------------------------------------------------------------------- the client answers


async def test_client_accepting_releases_the_disputed_amount(
    client: Actor, freelancer: Actor
) -> None:
    room = await _submitted(client, freelancer)
    dispute_id = await _dispute_on_milestone(room)

    payload = await room.respond_to_dispute(dispute_id, "ACCEPT", "Fair enough")

    dispute = payload["dispute"]
    assert dispute["status"] == "RESOLVED" and dispute["resolvedAt"]
    assert dispute["resolution"] == {
        "kind": "CLIENT_ACCEPTED",
        "releasedAmount": "500.00",
        "refundedAmount": "0.00",
        "message": "Fair enough",
        "decidedBy": {"id": await client.user_id()},
    }
    contract = payload["contract"]
    assert contract["openDispute"] is None
    assert milestone_in(contract, room.milestone(0))["status"] == "RELEASED"
    assert contract["escrow"]["totalReleased"] == "500.00"
    state = await room.read()
    assert event_kinds(state)[-1] == "DISPUTE_ACCEPTED"
    assert_escrow_consistent(state)
    (told,) = [n for n in await notification_nodes(freelancer) if n["kind"] == "DISPUTE_ACCEPTED"]
    assert "500.00 USD" in told["message"]
    # Answered once; only the client answers.
    await refuse(
        client,
        "respondToDispute",
        {"disputeId": dispute_id, "decision": "REJECT"},
        "NOT_PENDING",
        room=room,
    )


async def test_respond_to_dispute_refusals(
    client: Actor, freelancer: Actor, outsider: Actor, mediator: Actor
) -> None:
    room = await _submitted(client, freelancer)
    dispute_id = await _dispute_on_milestone(room)
    answer = {"disputeId": dispute_id, "decision": "ACCEPT"}
    await refuse(outsider, "respondToDispute", answer, "NOT_FOUND", room=room)
    # Not escalated: the mediator does not see the room at all.
    await refuse(mediator, "respondToDispute", answer, "NOT_FOUND", room=room)
    await refuse(freelancer, "respondToDispute", answer, "FORBIDDEN", room=room)
    for bad in (missing_id("Dispute"), MALFORMED_ID, room.milestone(0)):
        await refuse(
            client, "respondToDispute", {**answer, "disputeId": bad}, "NOT_FOUND", room=room
        )


# --------------------------------------------------------------------------- mediation


async def test_rejecting_sends_the_dispute_to_every_mediator(
    api: ApiClient, client: Actor, freelancer: Actor, mediator: Actor, outsider: Actor
) -> None:
    other_mediator = api.actor("mediator-max", name="Max", roles=("mediator",))
    await other_mediator.user_id()
    await mediator.user_id()
    room = await _submitted(client, freelancer)
    dispute_id = await _dispute_on_milestone(room)
    # Before mediation a mediator sees nothing of it.
    assert await read_contract(mediator, room.contract_id) is None
    assert await _disputes(mediator) == []
    assert (await mediator.gql(NODE_QUERY, {"id": dispute_id}))["node"] is None

    payload = await room.respond_to_dispute(dispute_id, "REJECT", "Not delivered")

    dispute = payload["dispute"]
    assert dispute["status"] == "IN_MEDIATION"
    assert dispute["responseMessage"] == "Not delivered"
    assert dispute["respondBy"] is None
    assert payload["contract"]["openDispute"] == {"id": dispute_id}
    assert event_kinds(await room.read())[-1] == "DISPUTE_ESCALATED"
    for who in (freelancer, mediator, other_mediator):
        kinds = [n["kind"] for n in await notification_nodes(who)]
        assert "DISPUTE_ESCALATED" in kinds, who
    assert "DISPUTE_ESCALATED" not in [n["kind"] for n in await notification_nodes(client)]
    assert "DISPUTE_ESCALATED" not in [n["kind"] for n in await notification_nodes(outsider)]
    # Mediators now see the dispute and, read-only, its room.
    for who in (mediator, other_mediator):
        listed = await _disputes(who)
        assert [d["id"] for d in listed] == [dispute_id]
        assert listed[0]["contract"]["viewerRole"] == "MEDIATOR"
        assert (await who.gql(NODE_QUERY, {"id": room.contract_id}))["node"] is not None
        seen = await read_contract(who, room.contract_id)
        assert seen is not None and seen["viewerRole"] == "MEDIATOR"
        assert (await room.read(who))["openDispute"] == {"id": dispute_id}
    assert await read_contract(outsider, room.contract_id) is None
    assert await _disputes(outsider) == []
    # The parties list their own disputes.
    assert [d["id"] for d in await _disputes(client, "IN_MEDIATION")] == [dispute_id]
    assert await _disputes(client, "RESOLVED") == []


async def test_a_mediator_splits_the_disputed_amount(
    client: Actor, freelancer: Actor, mediator: Actor
) -> None:
    await mediator.user_id()
    room = await _submitted(client, freelancer)
    dispute_id = await _escalated(room)

    payload = await ok(
        mediator,
        "resolveDispute",
        {"disputeId": dispute_id, "releaseAmount": "200.00", "message": "Half done"},
    )

    dispute = payload["dispute"]
    assert dispute["resolution"] == {
        "kind": "MEDIATOR_DECIDED",
        "releasedAmount": "200.00",
        "refundedAmount": "300.00",
        "message": "Half done",
        "decidedBy": {"id": await mediator.user_id()},
    }
    assert payload["contract"]["viewerRole"] == "MEDIATOR"
    contract = payload["contract"]
    assert contract["escrow"]["totalReleased"] == "200.00"
    assert contract["escrow"]["totalRefunded"] == "300.00"
    assert contract["escrow"]["held"] == "0.00"
    assert milestone_in(contract, room.milestone(0))["status"] == "RELEASED"
    state = await room.read()
    assert event_kinds(state)[-1] == "DISPUTE_RESOLVED"
    assert_escrow_consistent(state)
    for party in (client, freelancer):
        assert "DISPUTE_RESOLVED" in [n["kind"] for n in await notification_nodes(party)]
    # Resolved by a mediator: still listed for mediators.
    assert [d["id"] for d in await _disputes(mediator, "RESOLVED")] == [dispute_id]
    # The contract goes on: the next milestone can be funded.
    await room.activate(1)


async def test_a_mediator_may_release_nothing(
    client: Actor, freelancer: Actor, mediator: Actor
) -> None:
    await mediator.user_id()
    room = await _submitted(client, freelancer)
    dispute_id = await _escalated(room)
    payload = await ok(mediator, "resolveDispute", {"disputeId": dispute_id, "releaseAmount": "0"})
    assert payload["dispute"]["resolution"]["refundedAmount"] == "500.00"
    assert milestone_in(payload["contract"], room.milestone(0))["status"] == "REFUNDED"


async def test_resolve_dispute_refusals(
    client: Actor, freelancer: Actor, mediator: Actor, outsider: Actor
) -> None:
    await mediator.user_id()
    room = await _submitted(client, freelancer)
    dispute_id = await _dispute_on_milestone(room)
    decide = {"disputeId": dispute_id, "releaseAmount": "100.00"}
    # Not in mediation: mediators do not see it.
    await refuse(mediator, "resolveDispute", decide, "NOT_FOUND", room=room)
    await room.respond_to_dispute(dispute_id, "REJECT")
    await refuse(outsider, "resolveDispute", decide, "NOT_FOUND", room=room)
    for party in (client, freelancer):
        await refuse(party, "resolveDispute", decide, "FORBIDDEN", room=room)
    for amount in ("500.01", "-1.00", "0.001"):
        await refuse(
            mediator,
            "resolveDispute",
            {**decide, "releaseAmount": amount},
            "VALIDATION",
            field="releaseAmount",
            room=room,
        )
    await ok(mediator, "resolveDispute", decide)
    await refuse(mediator, "resolveDispute", decide, "NOT_PENDING", room=room)


async def test_a_mediator_acts_on_nothing_but_resolve_dispute(
    client: Actor, freelancer: Actor, mediator: Actor
) -> None:
    await mediator.user_id()
    room = await _submitted(client, freelancer)
    dispute_id = await _escalated(room)
    m0, m1 = room.milestone(0), room.milestone(1)
    party_actions = [
        ("addMilestone", {"contractId": room.contract_id, "title": "X", "amount": "1"}),
        ("editMilestone", {"milestoneId": m1, "title": "Renamed"}),
        ("deleteMilestone", {"milestoneId": m1}),
        ("activateMilestone", {"milestoneId": m1}),
        ("submitMilestone", {"milestoneId": m0}),
        ("rejectSubmission", {"milestoneId": m0}),
        ("approveMilestone", {"milestoneId": m0, "endContract": False}),
        ("requestEscrowRefund", {"milestoneId": m0}),
        ("endContract", {"contractId": room.contract_id}),
        ("sendBonus", {"contractId": room.contract_id, "amount": "5.00"}),
        (
            "requestMilestoneChanges",
            {
                "contractId": room.contract_id,
                "changes": [{"kind": "ADD", "title": "More", "amount": "10"}],
            },
        ),
        ("respondToDispute", {"disputeId": dispute_id, "decision": "ACCEPT"}),
        ("openDispute", {"milestoneId": m0}),
    ]
    for name, input in party_actions:
        await refuse(mediator, name, input, "FORBIDDEN", room=room)


async def test_disputing_the_refund_of_an_ended_contract(
    client: Actor, freelancer: Actor, mediator: Actor
) -> None:
    await mediator.user_id()
    room = await _submitted(client, freelancer, "1000.00")
    refund = (await room.end(payAmount="100.00"))["contract"]["pendingRefundRequest"]
    assert refund["amount"] == "900.00"

    opened = await room.open_dispute(refundRequestId=refund["id"])
    assert opened["dispute"]["amount"] == "900.00"
    await room.respond_to_dispute(opened["dispute"]["id"], "REJECT")
    payload = await ok(
        mediator, "resolveDispute", {"disputeId": opened["dispute"]["id"], "releaseAmount": "0"}
    )

    contract = payload["contract"]
    assert contract["status"] == "ENDED"
    assert contract["escrow"]["held"] == "0.00"
    assert contract["escrow"]["totalReleased"] == "100.00"
    assert contract["escrow"]["totalRefunded"] == "900.00"
    # Something of it was released (the payAmount): it ends RELEASED.
    assert milestone_in(contract, room.milestone(0))["status"] == "RELEASED"
    assert_escrow_consistent(await room.read())


async def test_room_cache_serves_no_party_room_to_a_mediator(
    client: Actor, freelancer: Actor, mediator: Actor, outsider: Actor
) -> None:
    await mediator.user_id()
    room = await _submitted(client, freelancer)
    query = "query Room($id: ID!) { contract(id: $id) { id viewerRole } }"
    for _ in range(2):  # the second read is a cache hit for the client
        assert (await client.gql(query, {"id": room.contract_id}))["contract"]["viewerRole"] == (
            "CLIENT"
        )
    assert (await mediator.gql(query, {"id": room.contract_id}))["contract"] is None
    await _escalated(room)
    for _ in range(2):
        seen = (await mediator.gql(query, {"id": room.contract_id}))["contract"]
        assert seen == {"id": room.contract_id, "viewerRole": "MEDIATOR"}
        assert (await outsider.gql(query, {"id": room.contract_id}))["contract"] is None
        assert (await client.gql(query, {"id": room.contract_id}))["contract"]["viewerRole"] == (
            "CLIENT"
        )


# --------------------------------------------------------------------------- the deadline


@pytest.fixture
def moved_clock() -> Iterator[None]:
    clock.reset()
    yield
    clock.reset()


async def test_an_unanswered_dispute_is_resolved_for_the_freelancer_once(
    client: Actor, freelancer: Actor, moved_clock: None
) -> None:
    room = await _submitted(client, freelancer)
    dispute_id = await _dispute_on_milestone(room)
    clock.advance(dt.timedelta(days=5, seconds=1))

    await deadlines.act_on_due()
    await deadlines.act_on_due()

    state = await room.read()
    assert event_kinds(state).count("DISPUTE_AUTO_RESOLVED") == 1
    (dispute,) = [edge["node"] for edge in state["disputes"]["edges"]]
    assert dispute["id"] == dispute_id
    assert dispute["resolution"]["kind"] == "AUTO_RESOLVED"
    assert dispute["resolution"]["decidedBy"] is None
    assert state["escrow"]["totalReleased"] == "500.00"
    (event,) = [
        e["node"] for e in state["events"]["edges"] if e["node"]["kind"] == "DISPUTE_AUTO_RESOLVED"
    ]
    assert event["actor"] is None
    for party in (client, freelancer):
        assert "DISPUTE_AUTO_RESOLVED" in [n["kind"] for n in await notification_nodes(party)]
    payload = await mutate(
        client, "respondToDispute", {"disputeId": dispute_id, "decision": "REJECT"}
    )
    assert [e["code"] for e in payload["userErrors"]] == ["NOT_PENDING"]


async def test_check_invariants_holds_with_open_disputes_and_rests_asked_back(
    api: ApiClient, client: Actor, freelancer: Actor, mediator: Actor
) -> None:
    from milestones.invariants import check_invariants

    await mediator.user_id()
    in_mediation = await _submitted(client, freelancer)
    await _escalated(in_mediation)
    paid_in_part = await _submitted(client, freelancer, "1000.00")
    refund = (await paid_in_part.end(payAmount="300.00"))["contract"]["pendingRefundRequest"]
    disputed_rest = await _submitted(client, freelancer, "700.00")
    rest = (await disputed_rest.end(payAmount="100.00"))["contract"]["pendingRefundRequest"]
    await disputed_rest.open_dispute(refundRequestId=rest["id"])

    report = await check_invariants()

    assert report.breaches == []
    assert refund["amount"] == "700.00" and rest["amount"] == "600.00"
