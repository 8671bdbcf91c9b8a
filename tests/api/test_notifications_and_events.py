"""The contract's event log, the viewer's notifications, and markNotificationsRead."""

from __future__ import annotations

from tests.helpers import (
    EVENTS_QUERY,
    Actor,
    Room,
    create_contract_with_milestones,
    event_kinds,
    global_id,
    mutate,
    notification_nodes,
    notifications,
    ok,
    pending_change_request,
    refuse,
    variables,
)


async def _worked_room(client: Actor, freelancer: Actor) -> Room:
    """create, add, activate (client); submit (freelancer); approve (client)."""
    room = await create_contract_with_milestones(client, freelancer, ["100.00", "200.00"])
    await room.activate(0)
    await room.submit(0)
    await room.approve(0)
    return room


# --------------------------------------------------------------------------- notifications


async def test_each_action_notifies_the_other_party(client: Actor, freelancer: Actor) -> None:
    room = await _worked_room(client, freelancer)
    client_id = await client.user_id()
    freelancer_id = await freelancer.user_id()

    to_freelancer = await notification_nodes(freelancer)
    to_client = await notification_nodes(client)

    assert [n["kind"] for n in to_freelancer] == [
        "MILESTONE_APPROVED",
        "MILESTONE_ACTIVATED",
        "MILESTONE_ADDED",
        "MILESTONE_ADDED",
        "CONTRACT_OFFERED",
    ]
    assert [n["kind"] for n in to_client] == ["MILESTONE_SUBMITTED", "CONTRACT_ACCEPTED"]
    for notification, actor_id in [
        *((n, client_id) for n in to_freelancer),
        *((n, freelancer_id) for n in to_client),
    ]:
        assert notification["actor"]["id"] == actor_id
        assert notification["contract"]["id"] == room.contract_id
        assert notification["readAt"] is None
        assert notification["createdAt"]
        message = notification["message"]
        assert isinstance(message, str) and " " in message.strip()
        assert message != notification["kind"]
    assert to_freelancer[0]["milestone"]["id"] == room.milestone(0)
    assert to_client[0]["milestone"]["id"] == room.milestone(0)


async def test_approve_and_end_notifies_both_events(client: Actor, freelancer: Actor) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    await room.activate(0)
    await room.approve(0, end_contract=True)

    kinds = [n["kind"] for n in await notification_nodes(freelancer)]

    assert kinds[:2] == ["CONTRACT_ENDED", "MILESTONE_APPROVED"]
    assert [n["kind"] for n in await notification_nodes(client)] == ["CONTRACT_ACCEPTED"]


async def test_change_and_refund_notifications_link_their_requests(
    client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    await room.activate(0)
    change_request_id = await pending_change_request(room)
    refund = await room.request_refund(0)

    (to_client, *_) = await notification_nodes(client)
    (to_freelancer, *_) = await notification_nodes(freelancer)

    assert to_client["kind"] == "CHANGE_REQUEST_SUBMITTED"
    assert to_client["changeRequest"]["id"] == change_request_id
    assert to_freelancer["kind"] == "REFUND_REQUESTED"
    assert to_freelancer["refundRequest"]["id"] == refund["refundRequest"]["id"]
    assert to_freelancer["milestone"]["id"] == room.milestone(0)


async def test_notifications_are_newest_first_and_paginate(
    client: Actor, freelancer: Actor
) -> None:
    await _worked_room(client, freelancer)
    every = await notifications(freelancer, first=100)
    all_ids = [edge["node"]["id"] for edge in every["edges"]]
    assert len(all_ids) == 5
    for edge in every["edges"]:
        assert edge["cursor"] == edge["node"]["cursor"]
    created = [edge["node"]["createdAt"] for edge in every["edges"]]
    assert created == sorted(created, reverse=True)

    page_one = await notifications(freelancer, first=2)
    assert [e["node"]["id"] for e in page_one["edges"]] == all_ids[:2]
    assert page_one["pageInfo"]["hasNextPage"] is True
    assert page_one["pageInfo"]["endCursor"] == page_one["edges"][-1]["cursor"]
    page_two = await notifications(freelancer, first=2, after=page_one["pageInfo"]["endCursor"])
    assert [e["node"]["id"] for e in page_two["edges"]] == all_ids[2:4]
    page_three = await notifications(freelancer, first=2, after=page_two["pageInfo"]["endCursor"])
    assert [e["node"]["id"] for e in page_three["edges"]] == all_ids[4:]
    assert page_three["pageInfo"]["hasNextPage"] is False


async def test_notifications_first_defaults_to_20(client: Actor, freelancer: Actor) -> None:
    room = await create_contract_with_milestones(client, freelancer)
    for number in range(21):
        await room.add(f"M{number}", "1")

    page = await notifications(freelancer)

    assert len(page["edges"]) == 20
    assert page["pageInfo"]["hasNextPage"] is True


async def test_mark_notifications_read_by_ids(client: Actor, freelancer: Actor) -> None:
    await _worked_room(client, freelancer)
    newest, second, *rest = await notification_nodes(freelancer)

    payload = await ok(freelancer, "markNotificationsRead", {"ids": [newest["id"], second["id"]]})

    assert payload["count"] == 2
    unread = await notification_nodes(freelancer, unread_only=True)
    assert [n["id"] for n in unread] == [n["id"] for n in rest]
    every = await notification_nodes(freelancer)
    assert every[0]["readAt"] and every[1]["readAt"]
    assert all(n["readAt"] is None for n in every[2:])
    # Marking again changes nothing, so counts nothing.
    again = await ok(freelancer, "markNotificationsRead", {"ids": [newest["id"]]})
    assert again["count"] == 0


async def test_mark_all_notifications_read(client: Actor, freelancer: Actor) -> None:
    room = await _worked_room(client, freelancer)
    (newest, *_) = await notification_nodes(freelancer)
    await ok(freelancer, "markNotificationsRead", {"ids": [newest["id"]]})
    events_before = event_kinds(await room.read())

    payload = await ok(freelancer, "markNotificationsRead", {"all": True})

    assert payload["count"] == 4
    assert await notification_nodes(freelancer, unread_only=True) == []
    # The other party's notifications are untouched, and nothing is logged.
    assert len(await notification_nodes(client, unread_only=True)) == 2
    assert event_kinds(await room.read()) == events_before
    assert (await ok(freelancer, "markNotificationsRead", {"all": True}))["count"] == 0


async def test_mark_read_of_someone_elses_notification_is_not_found(
    client: Actor, freelancer: Actor
) -> None:
    room = await _worked_room(client, freelancer)
    (mine, *_) = await notification_nodes(freelancer)
    (theirs, _accepted) = await notification_nodes(client)

    await refuse(
        freelancer,
        "markNotificationsRead",
        {"ids": [mine["id"], theirs["id"]]},
        "NOT_FOUND",
        field="ids.1",
        room=room,
    )
    await refuse(
        freelancer,
        "markNotificationsRead",
        {"ids": [global_id("Notification", 987654321)]},
        "NOT_FOUND",
        field="ids.0",
        room=room,
    )
    await refuse(
        freelancer,
        "markNotificationsRead",
        {"ids": [room.contract_id]},
        "NOT_FOUND",
        field="ids.0",
        room=room,
    )


async def test_mark_read_needs_ids_or_all(client: Actor, freelancer: Actor) -> None:
    room = await _worked_room(client, freelancer)
    for input in ({}, {"all": False}):
        await refuse(
            freelancer, "markNotificationsRead", input, "VALIDATION", field="ids", room=room
        )


async def test_refused_mark_read_marks_nothing(client: Actor, freelancer: Actor) -> None:
    await _worked_room(client, freelancer)
    (mine, *_) = await notification_nodes(freelancer)
    payload = await mutate(
        freelancer,
        "markNotificationsRead",
        {"ids": [mine["id"], global_id("Notification", 987654321)]},
    )
    assert [e["code"] for e in payload["userErrors"]] == ["NOT_FOUND"]
    assert len(await notification_nodes(freelancer, unread_only=True)) == 5


# --------------------------------------------------------------------------- events


async def test_events_are_oldest_first_with_cursors(client: Actor, freelancer: Actor) -> None:
    room = await _worked_room(client, freelancer)
    client_id = await client.user_id()
    freelancer_id = await freelancer.user_id()

    state = await room.read(freelancer)

    assert event_kinds(state) == [
        "CONTRACT_OFFERED",
        "CONTRACT_ACCEPTED",
        "MILESTONE_ADDED",
        "MILESTONE_ADDED",
        "MILESTONE_ACTIVATED",
        "MILESTONE_SUBMITTED",
        "MILESTONE_APPROVED",
    ]
    edges = state["events"]["edges"]
    assert [e["node"]["actor"]["id"] for e in edges] == [
        client_id,
        freelancer_id,
        client_id,
        client_id,
        client_id,
        freelancer_id,
        client_id,
    ]
    for edge in edges:
        assert edge["cursor"] == edge["node"]["cursor"]
        assert edge["node"]["contract"]["id"] == room.contract_id
        assert edge["node"]["occurredAt"]
    assert len({edge["cursor"] for edge in edges}) == len(edges)
    occurred = [edge["node"]["occurredAt"] for edge in edges]
    assert occurred == sorted(occurred)
    assert [e["node"]["milestone"] for e in edges[2:4]] == [
        {"id": room.milestone(0)},
        {"id": room.milestone(1)},
    ]
    assert edges[0]["node"]["milestone"] is None


async def test_events_paginate_with_first_and_after(client: Actor, freelancer: Actor) -> None:
    room = await _worked_room(client, freelancer)
    every = event_kinds(await room.read())
    seen: list[str] = []
    after: str | None = None
    while True:
        data = await client.gql(EVENTS_QUERY, variables(id=room.contract_id, first=4, after=after))
        connection = data["contract"]["events"]
        seen += [edge["node"]["kind"] for edge in connection["edges"]]
        assert len(connection["edges"]) <= 4
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
        assert after == connection["edges"][-1]["cursor"]
    assert seen == every
    assert len(every) == 7


async def test_refusals_log_nothing(client: Actor, freelancer: Actor) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    before = event_kinds(await room.read())
    await mutate(freelancer, "activateMilestone", {"milestoneId": room.milestone(0)})
    await mutate(client, "submitMilestone", {"milestoneId": room.milestone(0)})
    await mutate(
        client, "addMilestone", {"contractId": room.contract_id, "title": "", "amount": "1"}
    )
    assert event_kinds(await room.read()) == before
    assert len(await notification_nodes(freelancer)) == 2
    assert [n["kind"] for n in await notification_nodes(client)] == ["CONTRACT_ACCEPTED"]


ALL_EVENT_KINDS = {
    "CONTRACT_OFFERED",
    "CONTRACT_ACCEPTED",
    "MILESTONE_ADDED",
    "MILESTONE_EDITED",
    "MILESTONE_DELETED",
    "MILESTONE_ACTIVATED",
    "MILESTONE_SUBMITTED",
    "SUBMISSION_REJECTED",
    "MILESTONE_APPROVED",
    "REFUND_REQUESTED",
    "REFUND_ACCEPTED",
    "REFUND_DECLINED",
    "CHANGE_REQUEST_SUBMITTED",
    "CHANGE_REQUEST_ACCEPTED",
    "CHANGE_REQUEST_DECLINED",
    "CHANGE_REQUEST_WITHDRAWN",
    "CONTRACT_ENDED",
}


def _links(node: dict[str, object]) -> tuple[object, ...]:
    return tuple(
        node[key] for key in ("kind", "actor", "milestone", "changeRequest", "refundRequest")
    )


async def test_every_event_notifies_the_other_party_once_with_a_sentence(
    client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00", "200.00", "5.00"])
    await ok(client, "editMilestone", {"milestoneId": room.milestone(2), "title": "Small"})
    await ok(client, "deleteMilestone", {"milestoneId": room.milestone(2)})
    await room.activate(0)
    await room.submit(0)
    await room.reject(0)
    declined = await room.request_refund(0)
    await room.respond_to_refund(declined["refundRequest"]["id"], "DECLINE")
    accepted = await room.request_refund(0)
    await room.respond_to_refund(accepted["refundRequest"]["id"], "ACCEPT")
    await room.activate(1)
    await room.approve(1)
    await room.respond_to_changes(await pending_change_request(room), "ACCEPT")
    await room.respond_to_changes(await pending_change_request(room), "DECLINE")
    withdrawn = await pending_change_request(room)
    await ok(freelancer, "withdrawChangeRequest", {"changeRequestId": withdrawn})
    await room.end(freelancer)

    events = [edge["node"] for edge in (await room.read())["events"]["edges"]]
    assert {event["kind"] for event in events} == ALL_EVENT_KINDS
    client_id = {"id": await client.user_id()}
    to_client = await notification_nodes(client)
    to_freelancer = await notification_nodes(freelancer)

    # Newest first, one per event of the other party, linking what the event links.
    assert [_links(n) for n in to_client] == [
        _links(e) for e in reversed(events) if e["actor"] != client_id
    ]
    assert [_links(n) for n in to_freelancer] == [
        _links(e) for e in reversed(events) if e["actor"] == client_id
    ]
    for notification in [*to_client, *to_freelancer]:
        message = notification["message"]
        assert isinstance(message, str) and len(message.split()) >= 3, notification
        assert "None" not in message and "{" not in message, message
        assert notification["contract"]["id"] == room.contract_id


async def test_money_notifications_say_how_much_moved(client: Actor, freelancer: Actor) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["1000.00"])
    await room.activate(0)
    await room.approve(0, release="400.00")

    messages = {n["kind"]: n["message"] for n in await notification_nodes(freelancer)}
    assert "1000.00 USD" in messages["MILESTONE_ACTIVATED"]
    assert "400.00 USD" in messages["MILESTONE_APPROVED"]
