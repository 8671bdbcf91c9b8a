"""History tells the truth: deleted milestones stay findable as DELETED, a change lists the
fields it sets (a listed null clears), and every money move carries its amount on its event
and on the other party's notification."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from milestones.domain import clock, deadlines
from tests.helpers import (
    JSON,
    Actor,
    Room,
    create_contract_with_milestones,
    ok,
    pending_change_request,
)

HISTORY = """
query History($id: ID!) {
  contract(id: $id) {
    milestones { id position title status }
    changeRequests(first: 100) {
      edges { node { id changes { kind changedFields title description dueDate amount
                                  milestone { id status position deletedAt title } } } }
    }
    events(first: 100) {
      edges { node { kind amount milestone { id status position deletedAt } } }
    }
  }
}
"""
NODE = """
query Node($id: ID!) {
  node(id: $id) { ... on Milestone { id status position deletedAt title contract { id } } }
}
"""
NOTIFICATIONS = """
{ notifications(first: 100) { edges { node { kind amount milestone { id status } } } } }
"""


async def _history(room: Room, actor: Actor | None = None) -> JSON:
    data = await (actor or room.client).gql(HISTORY, {"id": room.contract_id})
    contract: JSON = data["contract"]
    return contract


def _events(history: JSON) -> list[JSON]:
    return [edge["node"] for edge in history["events"]["edges"]]


async def _notifications(actor: Actor) -> list[JSON]:
    data = await actor.gql(NOTIFICATIONS)
    return [edge["node"] for edge in reversed(data["notifications"]["edges"])]  # oldest first


def _amounts(items: list[JSON]) -> list[tuple[str, str | None]]:
    return [(item["kind"], item["amount"]) for item in items]


# --------------------------------------------------------------------------- deleted milestones


async def test_a_deleted_milestone_resolves_through_node_and_events_as_deleted(
    client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00", "200.00"])
    deleted = room.milestone(0)
    await ok(client, "deleteMilestone", {"milestoneId": deleted})

    history = await _history(room)
    assert [(m["position"], m["title"], m["status"]) for m in history["milestones"]] == [
        (1, "M2", "UPCOMING")
    ]
    for actor in (client, freelancer):
        node = (await actor.gql(NODE, {"id": deleted}))["node"]
        assert (node["id"], node["status"], node["position"], node["title"]) == (
            deleted,
            "DELETED",
            0,
            "M1",
        )
        assert node["deletedAt"] is not None
        assert node["contract"] == {"id": room.contract_id}
    events = _events(await _history(room, freelancer))
    # The ADD and the DELETE both point at it, shown as it is now: DELETED, not at position 1.
    concerning = [e for e in events if e["milestone"] and e["milestone"]["id"] == deleted]
    assert [e["kind"] for e in concerning] == ["MILESTONE_ADDED", "MILESTONE_DELETED"]
    assert {(e["milestone"]["status"], e["milestone"]["position"]) for e in concerning} == {
        ("DELETED", 0)
    }
    notified = [n for n in await _notifications(freelancer) if n["kind"] == "MILESTONE_DELETED"]
    assert [n["milestone"] for n in notified] == [{"id": deleted, "status": "DELETED"}]


async def test_a_milestone_deleted_by_a_change_request_stays_in_the_request(
    client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00", "200.00"])
    request = await pending_change_request(
        room, [{"kind": "DELETE", "milestoneId": room.milestone(0)}]
    )
    await room.respond_to_changes(request, "ACCEPT")

    history = await _history(room)
    (change,) = history["changeRequests"]["edges"][0]["node"]["changes"]
    assert change["kind"] == "DELETE"
    assert change["changedFields"] == []
    assert change["milestone"]["id"] == room.milestone(0)
    assert change["milestone"]["status"] == "DELETED"
    assert change["milestone"]["position"] == 0
    assert change["milestone"]["deletedAt"] is not None
    assert [(m["position"], m["title"]) for m in history["milestones"]] == [(1, "M2")]


async def test_a_deleted_milestone_cannot_be_acted_on(client: Actor, freelancer: Actor) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    await ok(client, "deleteMilestone", {"milestoneId": room.milestone(0)})
    for name in ("editMilestone", "activateMilestone", "deleteMilestone"):
        payload = (
            await client.post(
                f"mutation($input: {name[0].upper()}{name[1:]}Input!) "
                f"{{ {name}(input: $input) {{ userErrors {{ code field }} }} }}",
                {
                    "input": {"milestoneId": room.milestone(0)}
                    | ({"title": "Again"} if name == "editMilestone" else {})
                },
            )
        )["data"][name]
        assert payload["userErrors"] == [{"code": "NOT_FOUND", "field": "milestoneId"}]


# --------------------------------------------------------------------------- changedFields


async def test_changed_fields_list_what_each_change_sets_and_a_listed_null_clears(
    client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00", "200.00"])
    await ok(
        client,
        "editMilestone",
        {"milestoneId": room.milestone(0), "description": "Draft", "dueDate": "2030-01-31"},
    )
    request = await pending_change_request(
        room,
        [
            # Clears the due date (explicit null), keeps the description (omitted).
            {"kind": "EDIT", "milestoneId": room.milestone(0), "dueDate": None},
            {"kind": "EDIT", "milestoneId": room.milestone(1), "title": "Two", "amount": "5.00"},
            {"kind": "ADD", "title": "Extra", "amount": "10.00", "dueDate": "2030-02-01"},
            {"kind": "ADD", "title": "Plain", "amount": "1.00", "description": None},
        ],
    )
    history = await _history(room)
    changes = history["changeRequests"]["edges"][0]["node"]["changes"]
    assert [c["changedFields"] for c in changes] == [
        ["DUE_DATE"],
        ["TITLE", "AMOUNT"],
        ["TITLE", "DUE_DATE", "AMOUNT"],
        ["TITLE", "AMOUNT"],
    ]
    assert (changes[0]["dueDate"], changes[0]["description"]) == (None, None)

    await room.respond_to_changes(request, "ACCEPT")
    room_after = await room.read()
    first = next(m for m in room_after["milestones"] if m["id"] == room.milestone(0))
    assert (first["dueDate"], first["description"]) == (None, "Draft")


async def test_an_edit_that_clears_the_description_lists_it(
    client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    await ok(client, "editMilestone", {"milestoneId": room.milestone(0), "description": "Text"})
    request = await pending_change_request(
        room, [{"kind": "EDIT", "milestoneId": room.milestone(0), "description": None}]
    )
    history = await _history(room)
    (change,) = history["changeRequests"]["edges"][0]["node"]["changes"]
    assert change["changedFields"] == ["DESCRIPTION"]
    await room.respond_to_changes(request, "ACCEPT")
    assert (await room.read())["milestones"][0]["description"] is None


# --------------------------------------------------------------------------- amounts


async def test_every_money_move_carries_its_amount_on_event_and_notification(
    client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00", "50.00", "30.00"])
    await room.activate(0)
    await room.submit(0)
    await room.approve(0, release="60.00", bonusAmount="7.00")  # 40.00 becomes available
    await room.activate(1)  # 50.00 funded: 40.00 available + 10.00 deposited
    refund = await room.request_refund(1)
    await room.respond_to_refund(refund["refundRequest"]["id"], "ACCEPT")
    await ok(client, "sendBonus", {"contractId": room.contract_id, "amount": "3.00"})
    await room.activate(2)
    await room.approve(2, release="25.00")  # 5.00 left over from M3
    await room.end()  # the client ends: the 5.00 held is asked back...
    (rest,) = [n for n in await _notifications(freelancer) if n["kind"] == "REFUND_REQUESTED"][1:]
    pending = (await room.read())["pendingRefundRequest"]
    await room.respond_to_refund(pending["id"], "ACCEPT")  # ...and given back

    events = _events(await _history(room))
    moved = [(e["kind"], e["amount"]) for e in events if e["amount"] is not None]
    assert moved == [
        ("MILESTONE_ACTIVATED", "100.00"),
        ("MILESTONE_APPROVED", "60.00"),
        ("BONUS_PAID", "7.00"),
        ("MILESTONE_ACTIVATED", "50.00"),
        ("REFUND_REQUESTED", "50.00"),
        ("REFUND_ACCEPTED", "50.00"),
        ("BONUS_PAID", "3.00"),
        ("MILESTONE_ACTIVATED", "30.00"),
        ("MILESTONE_APPROVED", "25.00"),
        ("REFUND_REQUESTED", "5.00"),
        ("REFUND_ACCEPTED", "5.00"),
    ]
    assert {e["kind"]: e["amount"] for e in events if e["amount"] is None}.keys() == {
        "CONTRACT_OFFERED",
        "CONTRACT_ACCEPTED",
        "MILESTONE_ADDED",
        "MILESTONE_SUBMITTED",
        "CONTRACT_ENDED",  # the client paid nothing more when ending
    }
    # The leftover asked back and refunded at the end came from M3's partial release (the
    # refund request itself is for `available` money: no milestone).
    assert [e["milestone"]["id"] for e in events[-2:]] == [room.milestone(2)] * 2
    assert pending["milestone"] is None
    assert rest["milestone"] == {"id": room.milestone(2), "status": "RELEASED"}

    # Each party's notifications carry the amount of the other party's action.
    to_freelancer = [n for n in await _notifications(freelancer) if n["amount"] is not None]
    assert _amounts(to_freelancer) == [
        ("MILESTONE_ACTIVATED", "100.00"),
        ("MILESTONE_APPROVED", "60.00"),
        ("BONUS_PAID", "7.00"),
        ("MILESTONE_ACTIVATED", "50.00"),
        ("REFUND_REQUESTED", "50.00"),
        ("BONUS_PAID", "3.00"),
        ("MILESTONE_ACTIVATED", "30.00"),
        ("MILESTONE_APPROVED", "25.00"),
        ("REFUND_REQUESTED", "5.00"),
    ]
    to_client = [n for n in await _notifications(client) if n["amount"] is not None]
    assert _amounts(to_client) == [("REFUND_ACCEPTED", "50.00"), ("REFUND_ACCEPTED", "5.00")]


async def test_ending_names_the_milestone_the_leftover_came_from(
    client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00", "20.00"])
    await room.activate(0)
    await room.approve(0, release="90.00")  # 10.00 available, from M1
    await room.activate(1)  # takes the 10.00, deposits 10.00
    await room.approve(1, release="15.00")  # 5.00 left over from M2
    await room.end(freelancer)  # the freelancer ending gives it back at once

    events = _events(await _history(room))
    assert (events[-1]["kind"], events[-1]["amount"]) == ("CONTRACT_ENDED", "5.00")
    assert events[-1]["milestone"]["id"] == room.milestone(1)


async def test_approving_and_ending_asks_the_leftover_back_naming_its_milestone(
    client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    await room.activate(0)
    await room.approve(0, release="70.00", end_contract=True)  # 30.00 left over

    events = _events(await _history(room))
    assert [(e["kind"], e["amount"]) for e in events[-3:]] == [
        ("MILESTONE_APPROVED", "70.00"),
        ("CONTRACT_ENDED", None),
        ("REFUND_REQUESTED", "30.00"),
    ]
    assert events[-1]["milestone"]["id"] == room.milestone(0)


async def test_a_client_paying_when_ending_moves_that_amount(
    client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    await room.activate(0)
    await ok(client, "endContract", {"contractId": room.contract_id, "payAmount": "40.00"})

    events = _events(await _history(room))
    assert [(e["kind"], e["amount"], e["milestone"]["id"]) for e in events[-2:]] == [
        ("CONTRACT_ENDED", "40.00", room.milestone(0)),
        ("REFUND_REQUESTED", "60.00", room.milestone(0)),
    ]


async def test_ending_with_a_leftover_of_several_milestones_names_none(
    client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00", "5.00"])
    await room.activate(0)
    await room.approve(0, release="90.00")  # 10.00 available, from M1
    await room.activate(1)  # 5.00 of it: 5.00 of M1's leftover stays
    await room.approve(1, release="3.00")  # 2.00 more, from M2
    await room.end(freelancer)

    events = _events(await _history(room))
    assert (events[-1]["kind"], events[-1]["amount"], events[-1]["milestone"]) == (
        "CONTRACT_ENDED",
        "7.00",
        None,
    )


async def test_ending_with_nothing_held_moves_no_money(client: Actor, freelancer: Actor) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    await room.activate(0)
    await room.approve(0)
    await room.end(freelancer)
    events = _events(await _history(room))
    assert (events[-1]["kind"], events[-1]["amount"], events[-1]["milestone"]) == (
        "CONTRACT_ENDED",
        None,
        None,
    )


@pytest.fixture
def moving_clock() -> Iterator[None]:
    clock.reset()
    yield
    clock.reset()


async def test_automatic_money_moves_carry_their_amount(
    client: Actor, freelancer: Actor, moving_clock: None
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00", "40.00"])
    await room.activate(0)
    await room.submit(0)
    clock.advance(dt.timedelta(days=15))  # past the review window: released by itself
    await deadlines.act_on_due()
    await room.activate(1)
    await room.request_refund(1)
    clock.advance(dt.timedelta(days=8))  # past the refund answer window: accepted by itself
    await deadlines.act_on_due()

    events = _events(await _history(room))
    automatic = [
        (e["kind"], e["amount"], e["milestone"]["id"])
        for e in events
        if e["kind"] in ("MILESTONE_AUTO_RELEASED", "REFUND_AUTO_ACCEPTED")
    ]
    assert automatic == [
        ("MILESTONE_AUTO_RELEASED", "100.00", room.milestone(0)),
        ("REFUND_AUTO_ACCEPTED", "40.00", room.milestone(1)),
    ]
    for actor in (client, freelancer):  # both parties hear of an automatic action
        notified = _amounts(
            [
                n
                for n in await _notifications(actor)
                if n["kind"] in ("MILESTONE_AUTO_RELEASED", "REFUND_AUTO_ACCEPTED")
            ]
        )
        assert notified == [
            ("MILESTONE_AUTO_RELEASED", "100.00"),
            ("REFUND_AUTO_ACCEPTED", "40.00"),
        ]


async def test_a_disputed_leftover_released_names_the_milestone_it_came_from(
    client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    await room.activate(0)
    await room.approve(0, release="70.00", end_contract=True)  # 30.00 asked back
    pending = (await room.read())["pendingRefundRequest"]
    opened = await room.open_dispute(refundRequestId=pending["id"])
    await room.respond_to_dispute(opened["dispute"]["id"], "ACCEPT")  # released after all

    events = _events(await _history(room))
    assert [(e["kind"], e["amount"]) for e in events[-2:]] == [
        ("DISPUTE_OPENED", "30.00"),
        ("DISPUTE_ACCEPTED", "30.00"),
    ]
    assert events[-1]["milestone"]["id"] == room.milestone(0)
