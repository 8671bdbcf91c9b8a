"""addMilestone, editMilestone and deleteMilestone: the client's work on upcoming milestones."""

from __future__ import annotations

from tests.helpers import (
    MALFORMED_ID,
    Actor,
    create_contract_with_milestones,
    event_kinds,
    milestone_in,
    missing_id,
    mutate,
    ok,
    positions,
    read_room,
    refuse,
)

# --------------------------------------------------------------------------- addMilestone


async def test_add_milestone_appends_an_upcoming_milestone(
    client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])

    payload = await room.add(
        "Design", "1500", description="Mockups of every page", dueDate="2030-06-30"
    )

    milestone = payload["milestone"]
    assert milestone["title"] == "Design"
    assert milestone["description"] == "Mockups of every page"
    assert milestone["dueDate"] == "2030-06-30"
    assert milestone["amount"] == "1500.00"
    assert milestone["status"] == "UPCOMING"
    assert milestone["position"] == 2
    assert milestone["fundedAmount"] == "0.00"
    assert milestone["releasedAmount"] == "0.00"
    assert milestone["refundedAmount"] == "0.00"
    assert isinstance(milestone["version"], int)
    assert milestone["createdAt"] and milestone["updatedAt"]
    assert [m["id"] for m in payload["contract"]["milestones"]] == [
        room.milestone(0),
        milestone["id"],
    ]
    state = await room.read()
    assert event_kinds(state) == [
        "CONTRACT_OFFERED",
        "CONTRACT_ACCEPTED",
        "MILESTONE_ADDED",
        "MILESTONE_ADDED",
    ]
    last = state["events"]["edges"][-1]["node"]
    assert last["milestone"]["id"] == milestone["id"]
    assert last["actor"]["id"] == await client.user_id()


async def test_add_milestone_without_optional_fields(client: Actor, freelancer: Actor) -> None:
    room = await create_contract_with_milestones(client, freelancer)

    milestone = (await room.add("Design", "99.9"))["milestone"]

    assert milestone["description"] is None
    assert milestone["dueDate"] is None
    assert milestone["amount"] == "99.90"
    assert milestone["position"] == 1


async def test_add_milestone_accepts_integer_amount(client: Actor, freelancer: Actor) -> None:
    room = await create_contract_with_milestones(client, freelancer)
    payload = await ok(
        client,
        "addMilestone",
        {"contractId": room.contract_id, "title": "Design", "amount": 1500},
    )
    assert payload["milestone"]["amount"] == "1500.00"


async def test_add_milestone_by_freelancer_is_forbidden(client: Actor, freelancer: Actor) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    await refuse(
        freelancer,
        "addMilestone",
        {"contractId": room.contract_id, "title": "Mine", "amount": "10"},
        "FORBIDDEN",
        room=room,
    )


async def test_add_milestone_not_found_for_outsider_and_bad_ids(
    client: Actor, freelancer: Actor, outsider: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    await refuse(
        outsider,
        "addMilestone",
        {"contractId": room.contract_id, "title": "Mine", "amount": "10"},
        "NOT_FOUND",
        field="contractId",
        room=room,
    )
    for bad_id in [missing_id("Contract"), MALFORMED_ID, room.milestone(0)]:
        await refuse(
            client,
            "addMilestone",
            {"contractId": bad_id, "title": "Mine", "amount": "10"},
            "NOT_FOUND",
            field="contractId",
            room=room,
        )


# --------------------------------------------------------------------------- editMilestone


async def test_edit_milestone_changes_given_fields_and_bumps_version(
    client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer)
    added = (await room.add("Design", "100.00", description="Mockups", dueDate="2030-01-31"))[
        "milestone"
    ]
    room.milestone_ids.append(added["id"])

    payload = await ok(
        client,
        "editMilestone",
        {"milestoneId": added["id"], "title": "Design v2", "amount": "250.5"},
    )

    edited = payload["milestone"]
    assert edited["title"] == "Design v2"
    assert edited["amount"] == "250.50"
    # Omitted fields stay as they are.
    assert edited["description"] == "Mockups"
    assert edited["dueDate"] == "2030-01-31"
    assert edited["version"] == added["version"] + 1
    assert edited["position"] == added["position"]
    assert edited["status"] == "UPCOMING"
    assert milestone_in(payload["contract"], added["id"]) == edited
    state = await room.read()
    assert event_kinds(state)[-1] == "MILESTONE_EDITED"
    assert state["events"]["edges"][-1]["node"]["milestone"]["id"] == added["id"]


async def test_edit_milestone_explicit_null_clears_description_and_due_date(
    client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer)
    added = (await room.add("Design", "100.00", description="Mockups", dueDate="2030-01-31"))[
        "milestone"
    ]

    cleared = (
        await ok(
            client,
            "editMilestone",
            {"milestoneId": added["id"], "description": None, "dueDate": None},
        )
    )["milestone"]

    assert cleared["description"] is None
    assert cleared["dueDate"] is None
    assert cleared["title"] == "Design"
    assert cleared["amount"] == "100.00"


async def test_edit_milestone_omitted_fields_stay(client: Actor, freelancer: Actor) -> None:
    room = await create_contract_with_milestones(client, freelancer)
    added = (await room.add("Design", "100.00", description="Mockups", dueDate="2030-01-31"))[
        "milestone"
    ]

    edited = (
        await ok(client, "editMilestone", {"milestoneId": added["id"], "dueDate": "2031-02-28"})
    )["milestone"]

    assert edited["dueDate"] == "2031-02-28"
    assert edited["description"] == "Mockups"
    assert edited["title"] == "Design"
    assert edited["amount"] == "100.00"


async def test_edit_milestone_with_current_expected_version(
    client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    version = milestone_in(await room.read(), room.milestone(0))["version"]

    edited = (
        await ok(
            client,
            "editMilestone",
            {"milestoneId": room.milestone(0), "title": "Renamed", "expectedVersion": version},
        )
    )["milestone"]

    assert edited["title"] == "Renamed"
    assert edited["version"] == version + 1


async def test_edit_milestone_with_stale_expected_version_is_version_conflict(
    client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    version = milestone_in(await room.read(), room.milestone(0))["version"]
    await ok(client, "editMilestone", {"milestoneId": room.milestone(0), "title": "First"})

    for stale in (version, version + 5):
        await refuse(
            client,
            "editMilestone",
            {"milestoneId": room.milestone(0), "title": "Second", "expectedVersion": stale},
            "VERSION_CONFLICT",
            room=room,
        )


async def test_edit_milestone_by_freelancer_is_forbidden(client: Actor, freelancer: Actor) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    await refuse(
        freelancer,
        "editMilestone",
        {"milestoneId": room.milestone(0), "amount": "1000000"},
        "FORBIDDEN",
        room=room,
    )


async def test_edit_milestone_not_found_for_outsider_and_bad_ids(
    client: Actor, freelancer: Actor, outsider: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    await refuse(
        outsider,
        "editMilestone",
        {"milestoneId": room.milestone(0), "title": "Mine"},
        "NOT_FOUND",
        field="milestoneId",
        room=room,
    )
    for bad_id in [missing_id("Milestone"), MALFORMED_ID, room.contract_id]:
        await refuse(
            client,
            "editMilestone",
            {"milestoneId": bad_id, "title": "Mine"},
            "NOT_FOUND",
            field="milestoneId",
            room=room,
        )


# --------------------------------------------------------------------------- deleteMilestone


async def test_delete_milestone_closes_the_gap_in_positions(
    client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00", "200.00", "300.00"])

    payload = await ok(client, "deleteMilestone", {"milestoneId": room.milestone(1)})

    assert payload["deletedMilestoneId"] == room.milestone(1)
    assert positions(payload["contract"]) == [(1, "M1"), (2, "M3")]
    state = await room.read()
    assert positions(state) == [(1, "M1"), (2, "M3")]
    assert event_kinds(state)[-1] == "MILESTONE_DELETED"
    node = await client.gql("query($id: ID!) { node(id: $id) { id } }", {"id": room.milestone(1)})
    assert node["node"] is None


async def test_positions_stay_contiguous_after_delete_then_add(
    client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00", "200.00", "300.00"])
    await ok(client, "deleteMilestone", {"milestoneId": room.milestone(0)})
    await room.add("M4", "400.00")
    await ok(client, "deleteMilestone", {"milestoneId": room.milestone(2)})
    await room.add("M5", "500.00")

    assert positions(await room.read()) == [(1, "M2"), (2, "M4"), (3, "M5")]


async def test_delete_milestone_by_freelancer_is_forbidden(
    client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    await refuse(
        freelancer, "deleteMilestone", {"milestoneId": room.milestone(0)}, "FORBIDDEN", room=room
    )


async def test_delete_milestone_not_found_for_outsider_bad_ids_and_deleted(
    client: Actor, freelancer: Actor, outsider: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00", "200.00"])
    await refuse(
        outsider,
        "deleteMilestone",
        {"milestoneId": room.milestone(0)},
        "NOT_FOUND",
        field="milestoneId",
        room=room,
    )
    await ok(client, "deleteMilestone", {"milestoneId": room.milestone(1)})
    for bad_id in [missing_id("Milestone"), MALFORMED_ID, room.contract_id, room.milestone(1)]:
        await refuse(
            client,
            "deleteMilestone",
            {"milestoneId": bad_id},
            "NOT_FOUND",
            field="milestoneId",
            room=room,
        )


# --------------------------------------------------------------------------- active ones


async def test_active_milestone_cannot_be_edited_or_deleted(
    client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00", "200.00"])
    await room.activate(0)
    active = room.milestone(0)
    for status in ("ACTIVE", "SUBMITTED"):
        if status == "SUBMITTED":
            await room.submit(0)
        await refuse(
            client,
            "editMilestone",
            {"milestoneId": active, "title": "Renamed"},
            "MILESTONE_NOT_UPCOMING",
            room=room,
        )
        await refuse(
            client,
            "deleteMilestone",
            {"milestoneId": active},
            "MILESTONE_NOT_UPCOMING",
            room=room,
        )


async def test_released_and_refunded_milestones_cannot_be_edited_or_deleted(
    client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00", "200.00"])
    await room.activate(0)
    await room.approve(0)
    await room.activate(1)
    refund = await room.request_refund(1)
    await room.respond_to_refund(refund["refundRequest"]["id"], "ACCEPT")
    state = await read_room(client, room.contract_id)
    assert [m["status"] for m in state["milestones"]] == ["RELEASED", "REFUNDED"]

    for milestone_id in room.milestone_ids:
        await refuse(
            client,
            "editMilestone",
            {"milestoneId": milestone_id, "amount": "1.00"},
            "MILESTONE_NOT_UPCOMING",
            room=room,
        )
        await refuse(
            client,
            "deleteMilestone",
            {"milestoneId": milestone_id},
            "MILESTONE_NOT_UPCOMING",
            room=room,
        )


async def test_state_is_checked_after_validation(client: Actor, freelancer: Actor) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    await room.activate(0)
    payload = await mutate(
        client, "editMilestone", {"milestoneId": room.milestone(0), "amount": "-5"}
    )
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [("VALIDATION", "amount")]
