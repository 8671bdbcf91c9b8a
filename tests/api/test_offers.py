"""Offers: `createContract` makes an OFFERED contract that the freelancer party accepts or
declines, and the client may withdraw; offers by email wait for the first token whose email
claim matches."""

from __future__ import annotations

import pytest

from tests.conftest import ApiClient
from tests.helpers import (
    CONTRACTS_QUERY,
    ZERO_ESCROW,
    Actor,
    Room,
    accept_offer,
    event_kinds,
    missing_id,
    mutate,
    notification_nodes,
    offer_contract,
    ok,
    read_contract,
    refuse,
)


async def offer_room(client: Actor, freelancer: Actor, *amounts: str) -> Room:
    """An offer (not accepted) to `freelancer`, with one upcoming milestone per amount."""
    offer = await offer_contract(client, freelancer)
    room = Room(client, freelancer, offer["id"], [])
    for number, amount in enumerate(amounts, start=1):
        room.milestone_ids.append((await room.add(f"M{number}", amount))["milestone"]["id"])
    return room


async def contract_ids(actor: Actor) -> list[str]:
    data = await actor.gql(CONTRACTS_QUERY, {"first": 100})
    return [edge["node"]["id"] for edge in data["contracts"]["edges"]]


# --------------------------------------------------------------------------- lifecycle


async def test_an_offer_is_offered_until_the_freelancer_accepts_it(
    client: Actor, freelancer: Actor
) -> None:
    offer = await offer_contract(client, freelancer)
    assert offer["status"] == "OFFERED"
    assert (offer["acceptedAt"], offer["endedAt"]) == (None, None)
    assert offer["freelancer"]["id"] == await freelancer.user_id()
    seen = await read_contract(freelancer, offer["id"])
    assert seen is not None and (seen["status"], seen["viewerRole"]) == ("OFFERED", "FREELANCER")
    [offered] = await notification_nodes(freelancer)
    assert offered["kind"] == "CONTRACT_OFFERED"
    assert offered["actor"]["id"] == await client.user_id()
    assert "offered you" in offered["message"]

    accepted = await accept_offer(freelancer, offer["id"], message="Happy to")

    assert accepted["status"] == "ACTIVE" and accepted["acceptedAt"]
    assert accepted["viewerRole"] == "FREELANCER"
    room = await read_contract(client, offer["id"])
    assert room is not None and room["status"] == "ACTIVE"
    [to_client] = await notification_nodes(client)
    assert to_client["kind"] == "CONTRACT_ACCEPTED"
    assert to_client["actor"]["id"] == await freelancer.user_id()
    events = await client.gql(
        "query($id: ID!) { contract(id: $id) { events { edges { node { kind note"
        " actor { id } } } } } }",
        {"id": offer["id"]},
    )
    nodes = [edge["node"] for edge in events["contract"]["events"]["edges"]]
    assert [(n["kind"], n["note"]) for n in nodes] == [
        ("CONTRACT_OFFERED", None),
        ("CONTRACT_ACCEPTED", "Happy to"),
    ]


async def test_the_client_prepares_milestones_on_an_offer(client: Actor, freelancer: Actor) -> None:
    room = await offer_room(client, freelancer, "100.00", "200.00")
    await ok(client, "editMilestone", {"milestoneId": room.milestone(1), "amount": "250.00"})
    await ok(client, "deleteMilestone", {"milestoneId": room.milestone(0)})
    state = await room.read(freelancer)
    assert state["status"] == "OFFERED"
    assert [(m["position"], m["amount"]) for m in state["milestones"]] == [(1, "250.00")]
    assert state["escrow"] == ZERO_ESCROW


async def test_money_and_work_wait_for_acceptance(client: Actor, freelancer: Actor) -> None:
    room = await offer_room(client, freelancer, "100.00")
    for actor, name, input in [
        (client, "activateMilestone", {"milestoneId": room.milestone(0)}),
        (client, "sendBonus", {"contractId": room.contract_id, "amount": "5.00"}),
        (
            freelancer,
            "requestMilestoneChanges",
            {
                "contractId": room.contract_id,
                "changes": [{"kind": "DELETE", "milestoneId": room.milestone(0)}],
            },
        ),
        (freelancer, "endContract", {"contractId": room.contract_id}),
    ]:
        await refuse(actor, name, input, "CONTRACT_NOT_ACCEPTED", room=room)
    # The contract's state answers before the milestone's: an unfunded milestone is not
    # MILESTONE_NOT_ACTIVE but CONTRACT_NOT_ACCEPTED.
    for actor, name, input in [
        (freelancer, "submitMilestone", {"milestoneId": room.milestone(0)}),
        (client, "rejectSubmission", {"milestoneId": room.milestone(0)}),
        (client, "approveMilestone", {"milestoneId": room.milestone(0), "endContract": False}),
        (client, "requestEscrowRefund", {"milestoneId": room.milestone(0)}),
    ]:
        await refuse(actor, name, input, "CONTRACT_NOT_ACCEPTED", room=room)

    await accept_offer(freelancer, room.contract_id)
    await room.activate(0)
    await room.submit(0)
    await room.approve(0)


async def test_refusals_on_an_offer_keep_the_order_of_checks(
    client: Actor, freelancer: Actor, outsider: Actor
) -> None:
    room = await offer_room(client, freelancer, "100.00")
    accept = {"contractId": room.contract_id}
    await refuse(outsider, "acceptContract", accept, "NOT_FOUND", field="contractId", room=room)
    await refuse(
        freelancer,
        "acceptContract",
        {"contractId": missing_id("Contract")},
        "NOT_FOUND",
        field="contractId",
    )
    await refuse(client, "acceptContract", accept, "FORBIDDEN", room=room)
    await refuse(client, "declineContract", accept, "FORBIDDEN", room=room)
    await refuse(
        freelancer,
        "acceptContract",
        {**accept, "message": "x" * 5001},
        "VALIDATION",
        field="message",
        room=room,
    )
    # VALIDATION comes before the contract's state; FORBIDDEN before VALIDATION.
    await refuse(
        freelancer,
        "activateMilestone",
        {"milestoneId": room.milestone(0)},
        "FORBIDDEN",
        room=room,
    )
    await refuse(
        client,
        "sendBonus",
        {"contractId": room.contract_id, "amount": "0"},
        "VALIDATION",
        field="amount",
        room=room,
    )


async def test_answering_twice_is_not_pending(client: Actor, freelancer: Actor) -> None:
    accepted = await offer_room(client, freelancer)
    await accept_offer(freelancer, accepted.contract_id)
    declined = await offer_room(client, freelancer)
    await ok(freelancer, "declineContract", {"contractId": declined.contract_id})
    withdrawn = await offer_room(client, freelancer)
    await ok(client, "endContract", {"contractId": withdrawn.contract_id})
    for room in (accepted, declined, withdrawn):
        for answer in ("acceptContract", "declineContract"):
            await refuse(
                freelancer, answer, {"contractId": room.contract_id}, "NOT_PENDING", room=room
            )


async def test_a_declined_offer_is_final(client: Actor, freelancer: Actor) -> None:
    room = await offer_room(client, freelancer, "100.00")

    payload = await ok(
        freelancer, "declineContract", {"contractId": room.contract_id, "message": "Too busy"}
    )

    contract = payload["contract"]
    assert (contract["status"], contract["acceptedAt"]) == ("DECLINED", None)
    assert contract["endedAt"]
    [to_client] = await notification_nodes(client)
    assert to_client["kind"] == "CONTRACT_DECLINED"
    assert to_client["actor"]["id"] == await freelancer.user_id()
    assert "declined" in to_client["message"]
    # Final like ENDED: changes answer CONTRACT_ENDED, before any milestone state.
    for actor, name, input in [
        (client, "addMilestone", {"contractId": room.contract_id, "title": "X", "amount": "1"}),
        (client, "editMilestone", {"milestoneId": room.milestone(0), "title": "Y"}),
        (client, "deleteMilestone", {"milestoneId": room.milestone(0)}),
        (client, "activateMilestone", {"milestoneId": room.milestone(0)}),
        (freelancer, "submitMilestone", {"milestoneId": room.milestone(0)}),
        (client, "endContract", {"contractId": room.contract_id}),
        (freelancer, "endContract", {"contractId": room.contract_id}),
        (client, "sendBonus", {"contractId": room.contract_id, "amount": "5.00"}),
    ]:
        await refuse(actor, name, input, "CONTRACT_ENDED", room=room)
    assert (await room.read())["status"] == "DECLINED"


async def test_the_client_withdraws_an_offer(client: Actor, freelancer: Actor) -> None:
    room = await offer_room(client, freelancer, "100.00")

    payload = await ok(
        client, "endContract", {"contractId": room.contract_id, "message": "Found someone"}
    )

    assert payload["contract"]["status"] == "DECLINED"
    state = await room.read(freelancer)
    assert event_kinds(state) == ["CONTRACT_OFFERED", "MILESTONE_ADDED", "CONTRACT_DECLINED"]
    withdrawal = state["events"]["edges"][-1]["node"]
    assert withdrawal["actor"]["id"] == await client.user_id()
    newest = (await notification_nodes(freelancer))[0]
    assert newest["kind"] == "CONTRACT_DECLINED" and "withdrew" in newest["message"]
    assert [n["kind"] for n in await notification_nodes(client)] == []
    await refuse(
        freelancer, "acceptContract", {"contractId": room.contract_id}, "NOT_PENDING", room=room
    )


async def test_offers_are_listed_by_status(client: Actor, freelancer: Actor) -> None:
    offered = await offer_room(client, freelancer)
    accepted = await offer_room(client, freelancer)
    await accept_offer(freelancer, accepted.contract_id)
    for actor in (client, freelancer):
        data = await actor.gql(CONTRACTS_QUERY, {"status": "OFFERED"})
        assert [e["node"]["id"] for e in data["contracts"]["edges"]] == [offered.contract_id]
        data = await actor.gql(CONTRACTS_QUERY, {"status": "ACTIVE"})
        assert [e["node"]["id"] for e in data["contracts"]["edges"]] == [accepted.contract_id]


# --------------------------------------------------------------------------- the input


async def test_an_offer_names_exactly_one_freelancer(client: Actor, freelancer: Actor) -> None:
    freelancer_id = await freelancer.user_id()
    for party in ({}, {"freelancerId": freelancer_id, "freelancerEmail": "fred@example.com"}):
        await refuse(
            client,
            "createContract",
            {"title": "Site", **party},
            "VALIDATION",
            field="freelancerId",
        )
    assert await contract_ids(client) == []


@pytest.mark.parametrize(
    "email",
    ["", "   ", "fred", "fred@", "@example.com", "fred@example", "fr ed@example.com",
     "a@b@example.com", "x" * 310 + "@example.com"],
)  # fmt: skip
async def test_an_offer_by_email_needs_an_address(client: Actor, email: str) -> None:
    await refuse(
        client,
        "createContract",
        {"title": "Site", "freelancerEmail": email},
        "VALIDATION",
        field="freelancerEmail",
    )
    assert await contract_ids(client) == []


async def test_the_client_cannot_invite_their_own_email(client: Actor) -> None:
    for own in ("cleo@example.com", "  CLEO@Example.COM "):
        await refuse(
            client,
            "createContract",
            {"title": "Site", "freelancerEmail": own},
            "VALIDATION",
            field="freelancerEmail",
        )
    assert await contract_ids(client) == []


# --------------------------------------------------------------------------- by email


async def test_an_offer_by_email_waits_for_the_first_matching_sign_in(
    api: ApiClient, client: Actor
) -> None:
    offer = await offer_contract(client, email="  Nina.New@Example.COM ")
    assert offer["invitedEmail"] == "nina.new@example.com"
    assert offer["freelancer"] is None
    room = Room(client, client, offer["id"], [])
    await room.add("Draft", "100.00")

    # Another user, with another address or none at all, does not see it.
    other = api.actor("other", email="someone@example.com")
    no_email = api.actor("no-email")
    for stranger in (other, no_email):
        assert await contract_ids(stranger) == []
        assert await read_contract(stranger, offer["id"]) is None
        assert await notification_nodes(stranger) == []

    # First sign-in with the same address, written differently.
    nina = api.actor("nina", name="Nina", email="NINA.new@example.com")
    assert await contract_ids(nina) == [offer["id"]]
    seen = await read_contract(nina, offer["id"])
    assert seen is not None
    assert (seen["status"], seen["viewerRole"]) == ("OFFERED", "FREELANCER")
    assert seen["freelancer"] is None  # shown once they accept
    [offered] = await notification_nodes(nina)
    assert offered["kind"] == "CONTRACT_OFFERED"
    assert offered["actor"]["id"] == await client.user_id()
    assert offered["contract"]["id"] == offer["id"]

    # A later user with the same address gets nothing: the offer went to the first.
    late = api.actor("nina-again", email="nina.new@example.com")
    assert await contract_ids(late) == []
    assert await read_contract(late, offer["id"]) is None
    await refuse(late, "acceptContract", {"contractId": offer["id"]}, "NOT_FOUND")

    accepted = await accept_offer(nina, offer["id"])
    assert accepted["freelancer"]["id"] == await nina.user_id()
    shown = await read_contract(client, offer["id"])
    assert shown is not None and shown["freelancer"]["id"] == await nina.user_id()
    [to_client] = await notification_nodes(client)
    assert to_client["kind"] == "CONTRACT_ACCEPTED"


async def test_an_offer_by_email_to_someone_known_is_theirs_at_once(
    client: Actor, freelancer: Actor
) -> None:
    await freelancer.user_id()  # signed in with fred@example.com

    offer = await offer_contract(client, email="FRED@example.com")

    assert offer["freelancer"] is None
    assert await contract_ids(freelancer) == [offer["id"]]
    [offered] = await notification_nodes(freelancer)
    assert offered["kind"] == "CONTRACT_OFFERED"
    await ok(freelancer, "declineContract", {"contractId": offer["id"]})
    declined = await read_contract(client, offer["id"])
    assert declined is not None
    assert (declined["status"], declined["freelancer"]) == ("DECLINED", None)


async def test_an_email_invitee_before_sign_in_is_nobody(api: ApiClient, client: Actor) -> None:
    offer = await offer_contract(client, email="pat@example.com")
    # Only the client is told anything; client actions notify nobody else meanwhile.
    await ok(client, "addMilestone", {"contractId": offer["id"], "title": "A", "amount": "1"})
    assert await notification_nodes(client) == []
    pat = api.actor("pat", email="pat@example.com")
    # At sign-in only the offer is notified (the milestone was added before they were known).
    assert [n["kind"] for n in await notification_nodes(pat)] == ["CONTRACT_OFFERED"]
    room = await read_contract(pat, offer["id"])
    assert room is not None and [m["title"] for m in room["milestones"]] == ["A"]


async def test_a_changed_email_claim_matches_offers_to_the_new_address(
    api: ApiClient, client: Actor
) -> None:
    before = api.actor("mo", email="mo@old.example.com")
    await before.user_id()
    offer = await offer_contract(client, email="mo@new.example.com")
    assert await contract_ids(before) == []

    after = api.actor("mo", email="mo@new.example.com")

    assert await contract_ids(after) == [offer["id"]]


async def test_a_withdrawn_email_offer_reaches_nobody(api: ApiClient, client: Actor) -> None:
    offer = await offer_contract(client, email="gone@example.com")
    await ok(client, "endContract", {"contractId": offer["id"]})
    gone = api.actor("gone", email="gone@example.com")
    assert await contract_ids(gone) == []
    assert await notification_nodes(gone) == []


async def test_an_offer_by_email_replays_with_its_key(client: Actor) -> None:
    input = {"title": "Keyed", "freelancerEmail": "kim@example.com", "idempotencyKey": "k1"}
    first = await mutate(client, "createContract", input)
    again = await mutate(client, "createContract", input)
    assert first == again and first["userErrors"] == []
    assert len(await contract_ids(client)) == 1


async def test_emails_are_compared_in_their_normal_form(api: ApiClient, client: Actor) -> None:
    # Fullwidth letters (as some keyboards type them) are the same address once normalised.
    offer = await offer_contract(client, email="\uff3aoe@example.com")
    assert offer["invitedEmail"] == "zoe@example.com"
    zoe = api.actor("zoe", email="ZOE@example.com")
    assert await contract_ids(zoe) == [offer["id"]]
