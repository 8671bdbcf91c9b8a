"""Input validation: money, titles, dates, and the order in which kinds of error answer."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import (
    MALFORMED_ID,
    Actor,
    create_contract_with_milestones,
    missing_id,
    mutate,
    ok,
    refuse,
    user_error_fields,
)

BAD_AMOUNTS: list[Any] = [
    "0",
    "0.00",
    "-1",
    "-0.01",
    "1.234",
    "0.001",
    "10000000",
    "10000000.00",
    "9999999.991",
    "abc",
    "",
    "NaN",
    "Infinity",
    10.5,
    1500.0,
    0,
    -5,
]

GOOD_AMOUNTS: list[tuple[Any, str]] = [
    ("0.01", "0.01"),
    ("1500", "1500.00"),
    ("1500.5", "1500.50"),
    ("1500.50", "1500.50"),
    ("9999999.99", "9999999.99"),
    (7, "7.00"),
]

BAD_TITLES = {
    "empty": "",
    "spaces": "   ",
    "tab-newline": "\t\n",
    "201-chars": "x" * 201,
    "201-after-trim": " " + "y" * 201,
}

BAD_DATES = [
    "2024-13-01",
    "tomorrow",
    "2024-02-30",
    "01/02/2024",
    "2024-1-5",
    "",
    "2024-06-15T10:00",
]


@pytest.mark.parametrize("amount", BAD_AMOUNTS, ids=repr)
async def test_bad_amount_is_a_validation_error_naming_the_field(
    client: Actor, freelancer: Actor, amount: Any
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    await refuse(
        client,
        "addMilestone",
        {"contractId": room.contract_id, "title": "Design", "amount": amount},
        "VALIDATION",
        field="amount",
        room=room,
    )
    await refuse(
        client,
        "editMilestone",
        {"milestoneId": room.milestone(0), "amount": amount},
        "VALIDATION",
        field="amount",
        room=room,
    )


@pytest.mark.parametrize(("amount", "shown"), GOOD_AMOUNTS, ids=repr)
async def test_amounts_are_shown_with_two_decimals(
    client: Actor, freelancer: Actor, amount: Any, shown: str
) -> None:
    room = await create_contract_with_milestones(client, freelancer)
    payload = await ok(
        client,
        "addMilestone",
        {"contractId": room.contract_id, "title": "Design", "amount": amount},
    )
    assert payload["milestone"]["amount"] == shown
    edited = await ok(
        client, "editMilestone", {"milestoneId": payload["milestone"]["id"], "amount": amount}
    )
    assert edited["milestone"]["amount"] == shown


@pytest.mark.parametrize("title", list(BAD_TITLES.values()), ids=list(BAD_TITLES))
async def test_titles_are_1_to_200_characters_after_trimming(
    client: Actor, freelancer: Actor, title: str
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    await refuse(
        client,
        "addMilestone",
        {"contractId": room.contract_id, "title": title, "amount": "10"},
        "VALIDATION",
        field="title",
        room=room,
    )
    await refuse(
        client,
        "editMilestone",
        {"milestoneId": room.milestone(0), "title": title},
        "VALIDATION",
        field="title",
        room=room,
    )


async def test_title_of_200_characters_with_surrounding_spaces_is_accepted(
    client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer)
    payload = await room.add("  " + "z" * 200 + "  ", "10")
    assert payload["milestone"]["title"].strip() == "z" * 200


@pytest.mark.parametrize("due_date", BAD_DATES, ids=repr)
async def test_bad_due_dates_are_validation_errors(
    client: Actor, freelancer: Actor, due_date: str
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    await refuse(
        client,
        "addMilestone",
        {"contractId": room.contract_id, "title": "D", "amount": "10", "dueDate": due_date},
        "VALIDATION",
        field="dueDate",
        room=room,
    )
    await refuse(
        client,
        "editMilestone",
        {"milestoneId": room.milestone(0), "dueDate": due_date},
        "VALIDATION",
        field="dueDate",
        room=room,
    )


async def test_leap_day_is_a_valid_due_date(client: Actor, freelancer: Actor) -> None:
    room = await create_contract_with_milestones(client, freelancer)
    payload = await room.add("Leap", "10", dueDate="2028-02-29")
    assert payload["milestone"]["dueDate"] == "2028-02-29"


async def test_one_validation_error_per_bad_field(client: Actor, freelancer: Actor) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    before = await room.snapshot()

    payload = await mutate(
        client,
        "addMilestone",
        {"contractId": room.contract_id, "title": " ", "amount": "0", "dueDate": "tomorrow"},
    )

    assert {e["code"] for e in payload["userErrors"]} == {"VALIDATION"}
    assert sorted(user_error_fields(payload)) == ["amount", "dueDate", "title"]
    assert all(e["message"] for e in payload["userErrors"])
    assert payload["milestone"] is None and payload["contract"] is None
    assert await room.snapshot() == before


async def test_not_found_answers_before_validation(client: Actor, freelancer: Actor) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    for bad_id in (missing_id("Contract"), MALFORMED_ID):
        await refuse(
            client,
            "addMilestone",
            {"contractId": bad_id, "title": "", "amount": "0"},
            "NOT_FOUND",
            field="contractId",
            room=room,
        )
    await refuse(
        client,
        "editMilestone",
        {"milestoneId": missing_id("Milestone"), "amount": "1.001"},
        "NOT_FOUND",
        field="milestoneId",
        room=room,
    )


async def test_forbidden_answers_before_validation(client: Actor, freelancer: Actor) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    await refuse(
        freelancer,
        "addMilestone",
        {"contractId": room.contract_id, "title": "", "amount": "0"},
        "FORBIDDEN",
        room=room,
    )
    await refuse(
        freelancer,
        "editMilestone",
        {"milestoneId": room.milestone(0), "title": "x" * 300},
        "FORBIDDEN",
        room=room,
    )


async def test_validation_answers_before_state(client: Actor, freelancer: Actor) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    await room.end()
    await refuse(
        client,
        "addMilestone",
        {"contractId": room.contract_id, "title": "Late", "amount": "-1"},
        "VALIDATION",
        field="amount",
        room=room,
    )
    await refuse(
        client,
        "editMilestone",
        {"milestoneId": room.milestone(0), "dueDate": "2024-13-01"},
        "VALIDATION",
        field="dueDate",
        room=room,
    )


async def test_contract_ended_answers_before_milestone_state(
    client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00", "200.00"])
    await room.activate(0)
    await room.approve(0, end_contract=True)
    # M1 is RELEASED (not upcoming) and the contract is ended: CONTRACT_ENDED answers.
    await refuse(
        client,
        "editMilestone",
        {"milestoneId": room.milestone(0), "title": "Late"},
        "CONTRACT_ENDED",
        room=room,
    )
    await refuse(
        client,
        "approveMilestone",
        {"milestoneId": room.milestone(0), "endContract": False},
        "CONTRACT_ENDED",
        room=room,
    )


async def test_milestone_state_answers_before_change_request_pending(
    client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00", "200.00"])
    await room.activate(0)
    await room.request_changes([{"kind": "ADD", "title": "More", "amount": "5"}])
    input: dict[str, Any] = {"milestoneId": room.milestone(0), "title": "Renamed"}
    await refuse(client, "editMilestone", input, "MILESTONE_NOT_UPCOMING", room=room)
    await refuse(
        client,
        "editMilestone",
        {"milestoneId": room.milestone(1), "title": "Renamed", "expectedVersion": 999},
        "CHANGE_REQUEST_PENDING",
        room=room,
    )
