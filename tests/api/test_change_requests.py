"""requestMilestoneChanges, respondToChangeRequest and withdrawChangeRequest."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from tests.helpers import (
    MALFORMED_ID,
    Actor,
    create_contract_with_milestones,
    event_kinds,
    milestone_in,
    missing_id,
    mutate,
    notification_nodes,
    ok,
    pending_change_request,
    positions,
    refuse,
    user_error_fields,
)


def add(title: str = "Extra", amount: str = "250.00", **extra: Any) -> dict[str, Any]:
    return {"kind": "ADD", "title": title, "amount": amount, **extra}


def edit(milestone_id: str, **fields: Any) -> dict[str, Any]:
    return {"kind": "EDIT", "milestoneId": milestone_id, **fields}


def delete(milestone_id: str) -> dict[str, Any]:
    return {"kind": "DELETE", "milestoneId": milestone_id}


# --------------------------------------------------------------------------- requesting


async def test_request_milestone_changes_opens_a_pending_request(
    client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00", "200.00"])
    before = await room.read()

    payload = await room.request_changes(
        [
            add("Extra", "250", description="More pages", dueDate="2030-05-01"),
            edit(room.milestone(0), amount="150.00"),
            delete(room.milestone(1)),
        ],
        message="Scope grew",
    )

    change_request = payload["changeRequest"]
    assert change_request["status"] == "PENDING"
    assert change_request["message"] == "Scope grew"
    assert change_request["requestedBy"]["id"] == await freelancer.user_id()
    assert change_request["contract"]["id"] == room.contract_id
    assert change_request["respondedAt"] is None
    assert change_request["responseMessage"] is None
    added, edited, deleted = change_request["changes"]
    assert added == {
        "kind": "ADD",
        "milestone": None,
        "title": "Extra",
        "description": "More pages",
        "dueDate": "2030-05-01",
        "amount": "250.00",
    }
    assert (edited["kind"], edited["milestone"], edited["amount"]) == (
        "EDIT",
        {"id": room.milestone(0)},
        "150.00",
    )
    assert (deleted["kind"], deleted["milestone"]) == ("DELETE", {"id": room.milestone(1)})
    assert payload["contract"]["pendingChangeRequest"]["id"] == change_request["id"]
    after = await room.read()
    # Nothing applies before the client accepts.
    assert after["milestones"] == before["milestones"]
    assert event_kinds(after) == [*event_kinds(before), "CHANGE_REQUEST_SUBMITTED"]
    event = after["events"]["edges"][-1]["node"]
    assert event["changeRequest"]["id"] == change_request["id"]
    assert event["actor"]["id"] == await freelancer.user_id()
    (latest, *_) = await notification_nodes(client)
    assert latest["kind"] == "CHANGE_REQUEST_SUBMITTED"
    assert latest["changeRequest"]["id"] == change_request["id"]


async def test_change_request_may_add_while_a_milestone_is_active(
    client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    await room.activate(0)
    change_request_id = await pending_change_request(room, [add("Phase 2", "300")])

    payload = await room.respond_to_changes(change_request_id, "ACCEPT")

    assert positions(payload["contract"]) == [(1, "M1"), (2, "Phase 2")]
    assert payload["contract"]["activeMilestone"]["id"] == room.milestone(0)


async def test_request_changes_by_client_is_forbidden(client: Actor, freelancer: Actor) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    await refuse(
        client,
        "requestMilestoneChanges",
        {"contractId": room.contract_id, "changes": [add()]},
        "FORBIDDEN",
        room=room,
    )


async def test_request_changes_not_found_for_outsider_and_bad_ids(
    client: Actor, freelancer: Actor, outsider: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    await refuse(
        outsider,
        "requestMilestoneChanges",
        {"contractId": room.contract_id, "changes": [add()]},
        "NOT_FOUND",
        field="contractId",
        room=room,
    )
    for bad_id in [missing_id("Contract"), MALFORMED_ID, room.milestone(0)]:
        await refuse(
            freelancer,
            "requestMilestoneChanges",
            {"contractId": bad_id, "changes": [add()]},
            "NOT_FOUND",
            field="contractId",
            room=room,
        )


async def test_only_one_pending_change_request_per_contract(
    client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    await pending_change_request(room)
    await refuse(
        freelancer,
        "requestMilestoneChanges",
        {"contractId": room.contract_id, "changes": [add("Other")]},
        "CHANGE_REQUEST_PENDING",
        room=room,
    )


async def test_change_to_a_milestone_that_is_not_upcoming_is_refused(
    client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00", "200.00"])
    await room.activate(0)
    for change in (edit(room.milestone(0), title="Renamed"), delete(room.milestone(0))):
        await refuse(
            freelancer,
            "requestMilestoneChanges",
            {"contractId": room.contract_id, "changes": [change]},
            "MILESTONE_NOT_UPCOMING",
            room=room,
        )


async def test_request_changes_validation_paths(client: Actor, freelancer: Actor) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00", "200.00"])
    other = await create_contract_with_milestones(client, freelancer, ["50.00"], title="Other")
    first, second = room.milestone(0), room.milestone(1)
    cases: list[tuple[list[dict[str, Any]], str]] = [
        ([], "changes"),
        ([edit(first, title="A"), edit(first, amount="5")], "changes.1.milestoneId"),
        ([edit(first, title="A"), delete(first)], "changes.1.milestoneId"),
        ([add(), edit(second, title="B"), delete(second)], "changes.2.milestoneId"),
        ([edit(other.milestone(0), title="A")], "changes.0.milestoneId"),
        ([delete(missing_id("Milestone"))], "changes.0.milestoneId"),
        ([add(milestoneId=first)], "changes.0.milestoneId"),
        ([{"kind": "EDIT", "title": "A"}], "changes.0.milestoneId"),
        ([{"kind": "DELETE"}], "changes.0.milestoneId"),
        ([add(), add(amount="0")], "changes.1.amount"),
        ([edit(first, amount="1.001")], "changes.0.amount"),
        ([edit(first, amount="10000000.00")], "changes.0.amount"),
        ([add(amount="-3")], "changes.0.amount"),
        ([{"kind": "ADD", "title": "No amount"}], "changes.0.amount"),
        ([{"kind": "ADD", "amount": "10"}], "changes.0.title"),
        ([add(title="   ")], "changes.0.title"),
        ([delete(second), edit(first, title="x" * 201)], "changes.1.title"),
        ([add(dueDate="2024-13-01")], "changes.0.dueDate"),
        ([{**delete(second), "amount": "5"}], "changes.0.amount"),
        ([{**delete(second), "title": "Renamed"}], "changes.0.title"),
    ]
    for changes, field in cases:
        await refuse(
            freelancer,
            "requestMilestoneChanges",
            {"contractId": room.contract_id, "changes": changes},
            "VALIDATION",
            field=field,
            room=room,
        )
    await refuse(
        freelancer,
        "requestMilestoneChanges",
        {"contractId": room.contract_id, "changes": [add()], "message": "x" * 5001},
        "VALIDATION",
        field="message",
        room=room,
    )


async def test_request_changes_reports_one_error_per_bad_field(
    client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    payload = await mutate(
        freelancer,
        "requestMilestoneChanges",
        {
            "contractId": room.contract_id,
            "changes": [add(title=""), add(amount="1.234")],
        },
    )
    assert {e["code"] for e in payload["userErrors"]} == {"VALIDATION"}
    assert sorted(user_error_fields(payload)) == ["changes.0.title", "changes.1.amount"]
    assert payload["changeRequest"] is None


# --------------------------------------------------------------------------- responding


async def test_accepting_change_request_applies_all_changes_at_once(
    client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00", "200.00", "300.00"])
    change_request_id = await pending_change_request(
        room,
        [
            edit(room.milestone(0), title="M1 bigger", amount="150", description="More"),
            delete(room.milestone(1)),
            add("M4", "400", dueDate="2030-12-31"),
        ],
    )
    before = await room.read()
    events_before = event_kinds(before)

    payload = await room.respond_to_changes(change_request_id, "ACCEPT", message="Fine")

    change_request = payload["changeRequest"]
    assert change_request["status"] == "ACCEPTED"
    assert change_request["respondedAt"]
    assert change_request["responseMessage"] == "Fine"
    contract = payload["contract"]
    assert contract["pendingChangeRequest"] is None
    assert positions(contract) == [(1, "M1 bigger"), (2, "M3"), (3, "M4")]
    edited = milestone_in(contract, room.milestone(0))
    assert edited["amount"] == "150.00"
    assert edited["description"] == "More"
    assert edited["status"] == "UPCOMING"
    # An accepted edit is a new version: a stale expectedVersion must not overwrite it.
    assert edited["version"] > milestone_in(before, room.milestone(0))["version"]
    created_id = change_request["changes"][2]["milestone"]["id"]
    created = milestone_in(contract, created_id)
    assert created["amount"] == "400.00"
    assert created["dueDate"] == "2030-12-31"
    assert created["status"] == "UPCOMING"
    state = await room.read()
    assert event_kinds(state) == [*events_before, "CHANGE_REQUEST_ACCEPTED"]
    (latest, *_) = await notification_nodes(freelancer)
    assert latest["kind"] == "CHANGE_REQUEST_ACCEPTED"


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        # Found by the stateful test: a DELETE moves later milestones; a later EDIT or DELETE
        # of one of them must not write back (or shift from) its old position.
        (
            lambda m: [add("X", "250.50"), delete(m[0]), edit(m[1], title="B2", amount="100")],
            [(1, "B2"), (2, "C"), (3, "X")],
        ),
        (
            lambda m: [delete(m[0]), edit(m[2], title="C2"), delete(m[1])],
            [(1, "C2")],
        ),
        (
            lambda m: [delete(m[1]), delete(m[2]), add("Y", "5")],
            [(1, "A"), (2, "Y")],
        ),
    ],
)
async def test_accepted_deletes_and_edits_keep_positions_contiguous(
    client: Actor,
    freelancer: Actor,
    changes: Callable[[list[str]], list[dict[str, Any]]],
    expected: list[tuple[int, str]],
) -> None:
    room = await create_contract_with_milestones(client, freelancer, [])
    for title, amount in (("A", "100"), ("B", "200"), ("C", "300")):
        room.milestone_ids.append((await room.add(title, amount))["milestone"]["id"])
    change_request_id = await pending_change_request(room, changes(room.milestone_ids))

    payload = await room.respond_to_changes(change_request_id, "ACCEPT")

    assert positions(payload["contract"]) == expected
    assert positions(await room.read()) == expected


async def test_declined_change_request_changes_nothing(client: Actor, freelancer: Actor) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00", "200.00"])
    change_request_id = await pending_change_request(
        room, [delete(room.milestone(0)), edit(room.milestone(1), amount="1")]
    )
    before = await room.read()

    payload = await room.respond_to_changes(change_request_id, "DECLINE", message="No thanks")

    assert payload["changeRequest"]["status"] == "DECLINED"
    assert payload["changeRequest"]["responseMessage"] == "No thanks"
    assert payload["changeRequest"]["respondedAt"]
    after = await room.read()
    assert after["milestones"] == before["milestones"]
    assert after["pendingChangeRequest"] is None
    assert event_kinds(after) == [*event_kinds(before), "CHANGE_REQUEST_DECLINED"]
    (latest, *_) = await notification_nodes(freelancer)
    assert latest["kind"] == "CHANGE_REQUEST_DECLINED"


async def test_respond_to_change_request_by_freelancer_is_forbidden(
    client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    change_request_id = await pending_change_request(room)
    await refuse(
        freelancer,
        "respondToChangeRequest",
        {"changeRequestId": change_request_id, "decision": "ACCEPT"},
        "FORBIDDEN",
        room=room,
    )


async def test_respond_to_change_request_not_found_for_outsider_and_bad_ids(
    client: Actor, freelancer: Actor, outsider: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    change_request_id = await pending_change_request(room)
    await refuse(
        outsider,
        "respondToChangeRequest",
        {"changeRequestId": change_request_id, "decision": "ACCEPT"},
        "NOT_FOUND",
        field="changeRequestId",
        room=room,
    )
    for bad_id in [missing_id("ChangeRequest"), MALFORMED_ID, room.contract_id]:
        await refuse(
            client,
            "respondToChangeRequest",
            {"changeRequestId": bad_id, "decision": "ACCEPT"},
            "NOT_FOUND",
            field="changeRequestId",
            room=room,
        )


async def test_respond_to_change_request_message_is_at_most_5000_characters(
    client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    change_request_id = await pending_change_request(room)
    await refuse(
        client,
        "respondToChangeRequest",
        {"changeRequestId": change_request_id, "decision": "DECLINE", "message": "x" * 5001},
        "VALIDATION",
        field="message",
        room=room,
    )


async def test_responding_to_a_closed_change_request_is_not_pending(
    client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    change_request_id = await pending_change_request(room)
    await room.respond_to_changes(change_request_id, "DECLINE")
    for decision in ("ACCEPT", "DECLINE"):
        await refuse(
            client,
            "respondToChangeRequest",
            {"changeRequestId": change_request_id, "decision": decision},
            "NOT_PENDING",
            room=room,
        )
    await refuse(
        freelancer,
        "withdrawChangeRequest",
        {"changeRequestId": change_request_id},
        "NOT_PENDING",
        room=room,
    )


# --------------------------------------------------------------------------- withdrawing


async def test_withdraw_change_request(client: Actor, freelancer: Actor) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    change_request_id = await pending_change_request(room)
    before = await room.read()

    payload = await ok(freelancer, "withdrawChangeRequest", {"changeRequestId": change_request_id})

    assert payload["changeRequest"]["status"] == "WITHDRAWN"
    assert payload["contract"]["pendingChangeRequest"] is None
    after = await room.read()
    assert after["milestones"] == before["milestones"]
    assert event_kinds(after) == [*event_kinds(before), "CHANGE_REQUEST_WITHDRAWN"]
    (latest, *_) = await notification_nodes(client)
    assert latest["kind"] == "CHANGE_REQUEST_WITHDRAWN"
    await refuse(
        client,
        "respondToChangeRequest",
        {"changeRequestId": change_request_id, "decision": "ACCEPT"},
        "NOT_PENDING",
        room=room,
    )
    await refuse(
        freelancer,
        "withdrawChangeRequest",
        {"changeRequestId": change_request_id},
        "NOT_PENDING",
        room=room,
    )
    # A new request may be sent once the old one is closed.
    await pending_change_request(room)


async def test_withdraw_by_client_is_forbidden(client: Actor, freelancer: Actor) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    change_request_id = await pending_change_request(room)
    await refuse(
        client,
        "withdrawChangeRequest",
        {"changeRequestId": change_request_id},
        "FORBIDDEN",
        room=room,
    )


async def test_withdraw_not_found_for_outsider_and_bad_ids(
    client: Actor, freelancer: Actor, outsider: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    change_request_id = await pending_change_request(room)
    await refuse(
        outsider,
        "withdrawChangeRequest",
        {"changeRequestId": change_request_id},
        "NOT_FOUND",
        field="changeRequestId",
        room=room,
    )
    for bad_id in [missing_id("ChangeRequest"), MALFORMED_ID]:
        await refuse(
            freelancer,
            "withdrawChangeRequest",
            {"changeRequestId": bad_id},
            "NOT_FOUND",
            field="changeRequestId",
            room=room,
        )


# --------------------------------------------------------------------------- while pending


async def test_client_cannot_edit_while_change_request_pending(
    client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00", "200.00"])
    await pending_change_request(room)
    attempts: list[tuple[str, dict[str, Any]]] = [
        ("addMilestone", {"contractId": room.contract_id, "title": "X", "amount": "1"}),
        ("editMilestone", {"milestoneId": room.milestone(0), "title": "Renamed"}),
        ("deleteMilestone", {"milestoneId": room.milestone(1)}),
        ("activateMilestone", {"milestoneId": room.milestone(0)}),
    ]
    for name, input in attempts:
        await refuse(client, name, input, "CHANGE_REQUEST_PENDING", room=room)


async def test_approve_reject_refund_allowed_while_change_request_pending(
    client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00", "200.00", "300.00"])
    await room.activate(0)
    change_request_id = await pending_change_request(room)

    await room.submit(0)
    assert (await room.reject(0))["milestone"]["status"] == "ACTIVE"
    refund = await room.request_refund(0)
    assert (await room.respond_to_refund(refund["refundRequest"]["id"], "DECLINE"))[
        "refundRequest"
    ]["status"] == "DECLINED"
    await room.submit(0)
    assert (await room.approve(0, release="60.00"))["milestone"]["status"] == "RELEASED"

    state = await room.read()
    assert state["pendingChangeRequest"]["id"] == change_request_id
    # ... but activating the next milestone waits for the change request.
    await refuse(
        client,
        "activateMilestone",
        {"milestoneId": room.milestone(1)},
        "CHANGE_REQUEST_PENDING",
        room=room,
    )


async def test_refund_accepted_while_change_request_pending(
    client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00", "200.00"])
    await room.activate(0)
    await pending_change_request(room)
    refund = await room.request_refund(0)

    payload = await room.respond_to_refund(refund["refundRequest"]["id"], "ACCEPT")

    assert payload["milestone"]["status"] == "REFUNDED"
    assert payload["contract"]["pendingChangeRequest"] is not None


async def test_change_requests_are_listed_newest_first(client: Actor, freelancer: Actor) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    first = await pending_change_request(room)
    await room.respond_to_changes(first, "DECLINE")
    second = await pending_change_request(room)
    await ok(freelancer, "withdrawChangeRequest", {"changeRequestId": second})
    third = await pending_change_request(room)

    state = await room.read()

    assert [edge["node"]["id"] for edge in state["changeRequests"]["edges"]] == [
        third,
        second,
        first,
    ]
    assert [edge["node"]["status"] for edge in state["changeRequests"]["edges"]] == [
        "PENDING",
        "WITHDRAWN",
        "DECLINED",
    ]
    assert state["pendingChangeRequest"]["id"] == third


async def test_change_requests_paginate_with_first_and_after(
    client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    made = []
    for _ in range(3):
        change_request_id = await pending_change_request(room)
        await ok(freelancer, "withdrawChangeRequest", {"changeRequestId": change_request_id})
        made.append(change_request_id)
    query = """
    query($id: ID!, $first: Int, $after: String) {
      contract(id: $id) {
        changeRequests(first: $first, after: $after) {
          edges { cursor node { id } }
          pageInfo { hasNextPage endCursor }
        }
      }
    }
    """

    first_page = (await client.gql(query, {"id": room.contract_id, "first": 2}))["contract"][
        "changeRequests"
    ]
    after = first_page["pageInfo"]["endCursor"]
    second_page = (await client.gql(query, {"id": room.contract_id, "first": 2, "after": after}))[
        "contract"
    ]["changeRequests"]

    assert [e["node"]["id"] for e in first_page["edges"]] == made[::-1][:2]
    assert first_page["pageInfo"]["hasNextPage"] is True
    assert [e["node"]["id"] for e in second_page["edges"]] == made[::-1][2:]
    assert second_page["pageInfo"]["hasNextPage"] is False


async def test_approving_with_end_contract_declines_pending_change_request(
    client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    await room.activate(0)
    change_request_id = await pending_change_request(room)

    payload = await room.approve(0, end_contract=True)

    assert payload["contract"]["status"] == "ENDED"
    assert payload["contract"]["pendingChangeRequest"] is None
    state = await room.read()
    (change_request,) = [edge["node"] for edge in state["changeRequests"]["edges"]]
    assert change_request["id"] == change_request_id
    assert change_request["status"] == "DECLINED"
    assert change_request["responseMessage"] == "The contract ended."


async def test_change_request_edit_null_clears_and_omitted_stays(
    client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer)
    added = (await room.add("Design", "100.00", description="Mockups", dueDate="2030-01-31"))[
        "milestone"
    ]
    change_request_id = await pending_change_request(
        room, [edit(added["id"], description=None, amount="120")]
    )

    payload = await room.respond_to_changes(change_request_id, "ACCEPT")

    edited = milestone_in(payload["contract"], added["id"])
    assert edited["description"] is None
    assert edited["dueDate"] == "2030-01-31"
    assert edited["title"] == "Design"
    assert edited["amount"] == "120.00"


async def test_concurrent_change_requests_leave_one_pending(
    client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    input = {"contractId": room.contract_id, "changes": [add()]}

    payloads = await asyncio.gather(
        *(mutate(freelancer, "requestMilestoneChanges", input) for _ in range(3))
    )

    assert sorted(e["code"] for p in payloads for e in p["userErrors"]) == [
        "CHANGE_REQUEST_PENDING",
        "CHANGE_REQUEST_PENDING",
    ]
    state = await room.read()
    assert len(state["changeRequests"]["edges"]) == 1
    assert event_kinds(state).count("CHANGE_REQUEST_SUBMITTED") == 1
