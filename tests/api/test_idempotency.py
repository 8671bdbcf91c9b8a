"""Idempotency keys on every mutation: one helper, the parsed input compared, the whole payload
replayed as the first response had it (`docs/DESIGN.md`, API.md "Idempotency")."""

from __future__ import annotations

import json

import pytest

from milestones.models import IdempotencyRecord
from tests.helpers import (
    ALL_FRAGMENTS,
    Actor,
    create_contract_with_milestones,
    event_kinds,
    mutate,
    notification_nodes,
    offer_contract,
    ok,
    pending_change_request,
    raw_response,
    refuse,
)

# Every path a client may take from the payload back into the room, nested twice.
DEEP_ROOM = """
  id status endedAt
  escrow { held available totalFunded totalReleased totalRefunded }
  milestones { ...MilestoneFields contract { id escrow { held available totalReleased } } }
  activeMilestone { id status fundedAmount contract { escrow { held } } }
  pendingChangeRequest { ...ChangeRequestFields }
  pendingRefundRequest { ...RefundRequestFields }
  events(first: 100) { edges { cursor node { kind note milestone { id status } } } }
"""

DEEP_ACTIVATE = (
    """
mutation Activate($input: ActivateMilestoneInput!) {
  activateMilestone(input: $input) {
    milestone {
      ...MilestoneFields
      contract { ROOM }
    }
    contract { ROOM ...ContractFields }
    userErrors { code message field }
  }
}
""".replace("ROOM", DEEP_ROOM)
    + ALL_FRAGMENTS
)


async def test_replay_answers_every_path_of_the_payload_as_the_first_response_did(
    client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00", "40.00"])
    variables = {"input": {"milestoneId": room.milestone(0), "idempotencyKey": "activate-deep"}}
    first = await raw_response(client, DEEP_ACTIVATE, variables)
    assert b'"userErrors":[]' in first
    # Later, everything the payload shows changes: status, escrow, milestones, the log.
    await room.submit(0)
    await room.approve(0, release="60.00")
    await room.add("M3", "5.00")
    await pending_change_request(room)

    again = await raw_response(client, DEEP_ACTIVATE, variables)

    assert again == first
    assert b'"held":"100.00"' in again and b'"held":"40.00"' not in again


async def test_replay_of_a_change_request_shows_it_as_it_was(
    client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    change = {"kind": "ADD", "title": "Extra", "amount": "10.00"}
    input = {"contractId": room.contract_id, "changes": [change], "idempotencyKey": "cr-1"}
    first = await ok(freelancer, "requestMilestoneChanges", input)
    await room.respond_to_changes(first["changeRequest"]["id"], "ACCEPT")

    again = await ok(freelancer, "requestMilestoneChanges", input)

    assert again == first
    assert again["changeRequest"]["status"] == "PENDING"
    assert len((await room.read())["milestones"]) == 2


@pytest.mark.parametrize(("first_amount", "second_amount"), [("50", "50.00"), (50, "50.0")])
async def test_the_same_amount_written_differently_replays(
    client: Actor, freelancer: Actor, first_amount: object, second_amount: object
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    await room.activate(0)
    input = {"milestoneId": room.milestone(0), "endContract": False, "idempotencyKey": "k"}
    first = await ok(client, "approveMilestone", {**input, "releaseAmount": first_amount})

    again = await ok(client, "approveMilestone", {**input, "releaseAmount": second_amount})

    assert again == first
    state = await room.read()
    assert event_kinds(state).count("MILESTONE_APPROVED") == 1
    assert state["escrow"]["totalReleased"] == "50.00"


async def test_a_different_amount_with_the_same_key_is_a_conflict(
    client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    await room.activate(0)
    input = {"milestoneId": room.milestone(0), "endContract": False, "idempotencyKey": "k"}
    await ok(client, "approveMilestone", {**input, "releaseAmount": "50"})
    await refuse(
        client,
        "approveMilestone",
        {**input, "releaseAmount": "50.01"},
        "IDEMPOTENCY_CONFLICT",
        field="idempotencyKey",
        room=room,
    )


async def test_every_mutation_takes_a_key_and_a_retry_acts_once(
    client: Actor, freelancer: Actor
) -> None:
    """A retry after a lost answer (e.g. the connection dropped after commit) acts once."""
    created = await offer_contract(client, freelancer, title="Keyed", idempotencyKey="c-1")
    assert await offer_contract(client, freelancer, title="Keyed", idempotencyKey="c-1") == created
    contract_id = created["id"]
    accept = {"contractId": contract_id, "message": "Glad to", "idempotencyKey": "acc"}
    accepted = await ok(freelancer, "acceptContract", accept)
    assert await ok(freelancer, "acceptContract", accept) == accepted

    add = {"contractId": contract_id, "title": "Only once", "amount": "10", "idempotencyKey": "a"}
    added = await ok(client, "addMilestone", add)
    assert await ok(client, "addMilestone", add) == added
    milestone_id = added["milestone"]["id"]

    edit = {"milestoneId": milestone_id, "title": "Renamed", "idempotencyKey": "e"}
    edited = await ok(client, "editMilestone", edit)
    assert await ok(client, "editMilestone", edit) == edited
    assert edited["milestone"]["version"] == 2

    submit = {"milestoneId": milestone_id, "message": "Done", "idempotencyKey": "s"}
    await ok(client, "activateMilestone", {"milestoneId": milestone_id})
    submitted = await ok(freelancer, "submitMilestone", submit)
    assert await ok(freelancer, "submitMilestone", submit) == submitted

    end = {"contractId": contract_id, "idempotencyKey": "end"}
    await ok(client, "approveMilestone", {"milestoneId": milestone_id, "endContract": False})
    ended = await ok(freelancer, "endContract", end)
    assert await ok(freelancer, "endContract", end) == ended

    contracts = await client.gql("{ contracts { edges { node { title } } } }")
    assert [e["node"]["title"] for e in contracts["contracts"]["edges"]] == ["Keyed"]
    assert [n["kind"] for n in await notification_nodes(client)].count("CONTRACT_ACCEPTED") == 1
    kinds = [n["kind"] for n in await notification_nodes(freelancer)]
    assert kinds.count("MILESTONE_ADDED") == 1 and kinds.count("MILESTONE_EDITED") == 1
    mark = {"all": True, "idempotencyKey": "read"}
    marked = await ok(freelancer, "markNotificationsRead", mark)
    assert marked["count"] > 0
    assert await ok(freelancer, "markNotificationsRead", mark) == marked
    await refuse(
        freelancer,
        "markNotificationsRead",
        {"ids": [], "idempotencyKey": "read"},
        "IDEMPOTENCY_CONFLICT",
        field="idempotencyKey",
    )
    # The key keeps a few bytes, not every id `all` covered; a replay still lists exactly what
    # the first call marked, not what a later call marked.
    record = await IdempotencyRecord.get(operation="markNotificationsRead", key="read")
    assert "ids" not in record.result and len(json.dumps(record.result)) < 200
    await ok(
        client, "createContract", {"title": "Later", "freelancerId": await freelancer.user_id()}
    )
    later = await ok(freelancer, "markNotificationsRead", {"all": True, "idempotencyKey": "later"})
    assert later["count"] == 1
    assert await ok(freelancer, "markNotificationsRead", mark) == marked


async def test_a_refused_keyed_action_is_not_remembered(client: Actor, freelancer: Actor) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    input = {"contractId": room.contract_id, "title": " ", "amount": "5", "idempotencyKey": "x"}
    await refuse(client, "addMilestone", input, "VALIDATION", field="title", room=room)

    added = await ok(client, "addMilestone", {**input, "title": "Fixed"})

    assert added["milestone"]["title"] == "Fixed"


@pytest.mark.parametrize("key", ["k" * 256, "", "   ", "a\x00b", "line\nbreak", "tab\tkey"])
async def test_a_bad_key_is_a_validation_error_naming_it(
    client: Actor, freelancer: Actor, key: str
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    for name, input in (
        ("activateMilestone", {"milestoneId": room.milestone(0)}),
        ("addMilestone", {"contractId": room.contract_id, "title": "T", "amount": "1"}),
    ):
        await refuse(
            client, name, {**input, "idempotencyKey": key}, "VALIDATION", field="idempotencyKey"
        )


async def test_a_key_of_255_characters_is_accepted(client: Actor, freelancer: Actor) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    key = "k" * 255
    first = await ok(
        client, "activateMilestone", {"milestoneId": room.milestone(0), "idempotencyKey": key}
    )
    again = await mutate(
        client, "activateMilestone", {"milestoneId": room.milestone(0), "idempotencyKey": key}
    )
    assert again == first
