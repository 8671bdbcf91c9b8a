"""Live delivery, replay after a cursor, and the seam between them (one server process)."""

from __future__ import annotations

import asyncio
import time

from tests.helpers import (
    EVENTS_QUERY,
    Actor,
    Room,
    create_contract_with_milestones,
    pending_change_request,
    pending_refund_request,
)
from tests.subscriptions.wsclient import GraphQLWS, subscribed_client

LIVE_WITHIN_SECONDS = 1.0
EDIT_MILESTONE = """
mutation ($milestoneId: ID!, $title: String!) {
  editMilestone(input: {milestoneId: $milestoneId, title: $title}) {
    milestone { id }
    userErrors { code message }
  }
}
"""


async def _edit(room: Room, title: str) -> None:
    """Rename the room's first milestone, asking for little back: many events, quickly."""
    data = await room.client.gql(EDIT_MILESTONE, {"milestoneId": room.milestone(0), "title": title})
    assert data["editMilestone"]["userErrors"] == []


async def _next_within_a_second(
    ws: GraphQLWS, operation_id: str
) -> tuple[dict[str, object], float]:
    started = time.monotonic()
    (item,) = await ws.take(operation_id, 1, within=LIVE_WITHIN_SECONDS)
    return item, time.monotonic() - started


async def _event_cursors(actor: Actor, contract_id: str) -> list[tuple[str, str]]:
    """(cursor, kind) of every event of the contract, oldest first."""
    found: list[tuple[str, str]] = []
    after = None
    while True:
        data = await actor.gql(EVENTS_QUERY, {"id": contract_id, "first": 100, "after": after})
        connection = data["contract"]["events"]
        found += [(edge["cursor"], edge["node"]["kind"]) for edge in connection["edges"]]
        if not connection["pageInfo"]["hasNextPage"]:
            return found
        after = connection["pageInfo"]["endCursor"]


async def test_client_receives_change_request_submitted_within_a_second(
    server_url: str, client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    async with subscribed_client(server_url, client.token) as ws:
        await ws.subscribe_notifications("n")
        await ws.expect_silence(0.3)  # subscribed; nothing from before it
        started = time.monotonic()
        change_request_id = await pending_change_request(room)
        (notification,) = await ws.take("n", 1, within=LIVE_WITHIN_SECONDS)
        latency = time.monotonic() - started
    assert notification["kind"] == "CHANGE_REQUEST_SUBMITTED"
    assert notification["changeRequest"] == {"id": change_request_id}
    assert notification["actor"]["id"] == await freelancer.user_id()
    assert notification["contract"]["id"] == room.contract_id
    assert latency < LIVE_WITHIN_SECONDS
    print(f"\nmutation-to-notification latency: {latency * 1000:.1f} ms")


async def test_freelancer_receives_responses_milestone_and_refund_notifications(
    server_url: str, client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00", "200.00"])
    async with subscribed_client(server_url, freelancer.token) as ws:
        await ws.subscribe_notifications("n")
        await ws.expect_silence(0.3)

        accepted = await pending_change_request(room)
        await room.respond_to_changes(accepted, "ACCEPT")
        declined = await pending_change_request(room)
        await room.respond_to_changes(declined, "DECLINE", message="Not now")
        await room.activate(0)
        refund = await pending_refund_request(room)
        await room.respond_to_refund(refund, "ACCEPT")
        await room.activate(1)
        await room.approve(1, end_contract=True)

        received = await ws.take("n", 7, within=LIVE_WITHIN_SECONDS)
        await ws.expect_silence(0.2)
    assert [n["kind"] for n in received] == [
        "CHANGE_REQUEST_ACCEPTED",
        "CHANGE_REQUEST_DECLINED",
        "MILESTONE_ACTIVATED",
        "REFUND_REQUESTED",
        "MILESTONE_ACTIVATED",
        "MILESTONE_APPROVED",
        "CONTRACT_ENDED",
    ]
    assert received[0]["changeRequest"] == {"id": accepted}
    assert received[1]["changeRequest"] == {"id": declined}
    assert received[3]["refundRequest"] == {"id": refund}


async def test_each_notification_arrives_live_within_a_second(
    server_url: str, client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    latencies = []
    async with subscribed_client(server_url, freelancer.token) as ws:
        await ws.subscribe_notifications("n")
        await ws.expect_silence(0.3)
        change_request_id = await pending_change_request(room)
        started = time.monotonic()
        await room.respond_to_changes(change_request_id, "DECLINE")
        (item,) = await ws.take("n", 1, within=LIVE_WITHIN_SECONDS)
        latencies.append(time.monotonic() - started)
        assert item["kind"] == "CHANGE_REQUEST_DECLINED"
        await room.activate(0)
        await ws.take("n", 1, within=LIVE_WITHIN_SECONDS)
        started = time.monotonic()
        await room.request_refund(0)
        (item,) = await ws.take("n", 1, within=LIVE_WITHIN_SECONDS)
        latencies.append(time.monotonic() - started)
        assert item["kind"] == "REFUND_REQUESTED"
    assert max(latencies) < LIVE_WITHIN_SECONDS


async def test_without_after_only_what_happens_after_subscribing(
    server_url: str, client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00", "200.00"])
    async with subscribed_client(server_url, freelancer.token) as ws:
        await ws.subscribe_notifications("n")
        await ws.subscribe_events("e", room.contract_id)
        await ws.expect_silence(0.3)
        await room.activate(0)
        (notification,) = await ws.take("n", 1)
        (event,) = await ws.take("e", 1)
        await ws.expect_silence(0.2)
    assert notification["kind"] == event["kind"] == "MILESTONE_ACTIVATED"


async def test_reconnect_with_last_cursor_gets_exactly_the_missed_then_live(
    server_url: str, client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["10.00"])
    async with subscribed_client(server_url, freelancer.token) as ws:
        await ws.subscribe_notifications("n")
        await ws.subscribe_events("e", room.contract_id)
        await ws.expect_silence(0.3)  # subscribed (the protocol has no acknowledgement)
        await room.add("Seen live", "20.00")
        (last_notification,) = await ws.take("n", 1)
        (last_event,) = await ws.take("e", 1)

    missed = 7
    titles = [f"Missed {number}" for number in range(missed)]
    for title in titles:
        await room.add(title, "5.00")

    started = time.monotonic()
    async with subscribed_client(server_url, freelancer.token) as ws:
        await ws.subscribe_notifications("n", after=last_notification["cursor"])
        replayed = await ws.take("n", missed)
        catch_up = time.monotonic() - started
        await ws.subscribe_events("e", room.contract_id, after=last_event["cursor"])
        replayed_events = await ws.take("e", missed)
        await ws.expect_silence(0.3)  # exactly those: nothing twice
        await room.activate(0)
        (live,) = await ws.take("n", 1)
        (live_event,) = await ws.take("e", 1)
    assert [n["kind"] for n in replayed] == ["MILESTONE_ADDED"] * missed
    assert len({n["cursor"] for n in replayed}) == missed
    assert [e["kind"] for e in replayed_events] == ["MILESTONE_ADDED"] * missed
    everything = await _event_cursors(client, room.contract_id)
    cursors = [cursor for cursor, _ in everything]
    start = cursors.index(last_event["cursor"]) + 1
    assert [e["cursor"] for e in replayed_events] == cursors[start : start + missed]
    assert live["kind"] == live_event["kind"] == "MILESTONE_ACTIVATED"
    print(f"\nreconnect catch-up of {missed} notifications: {catch_up * 1000:.1f} ms")


async def test_events_committed_during_the_replay_arrive_once_and_in_order(
    server_url: str, client: Actor, freelancer: Actor
) -> None:
    """A replay longer than one read batch, with commits racing it: no gap, no duplicate."""
    room = await create_contract_with_milestones(client, freelancer, ["1.00"])
    first = await _event_cursors(client, room.contract_id)
    backlog = 130  # more than one read batch
    for number in range(backlog):
        await _edit(room, f"Backlog {number}")

    async def keep_committing(count: int) -> None:
        for number in range(count):
            await _edit(room, f"During replay {number}")
            await asyncio.sleep(0)

    during = 30
    async with subscribed_client(server_url, freelancer.token) as ws:
        await ws.subscribe_events("e", room.contract_id, after=first[0][0])
        writer = asyncio.create_task(keep_committing(during))
        # + CONTRACT_ACCEPTED and MILESTONE_ADDED
        received = await ws.take("e", 2 + backlog + during, within=10)
        await writer
        await ws.expect_silence(0.3)
    everything = await _event_cursors(client, room.contract_id)
    assert [e["cursor"] for e in received] == [cursor for cursor, _ in everything[1:]]


async def test_a_subscriber_that_does_not_read_catches_up_from_the_database(
    server_url: str, client: Actor, freelancer: Actor
) -> None:
    """The server queues nothing per subscriber: a reader that stalls reads the rows later."""
    room = await create_contract_with_milestones(client, freelancer, ["1.00"])
    async with subscribed_client(server_url, freelancer.token) as ws:
        await ws.subscribe_notifications("n")
        await ws.expect_silence(0.3)
        for number in range(120):
            await _edit(room, f"While stalled {number}")
        received = await ws.take("n", 120, within=10)
        await ws.expect_silence(0.2)
    assert len({n["cursor"] for n in received}) == 120


async def test_two_subscribers_of_one_viewer_both_receive(
    server_url: str, client: Actor, freelancer: Actor
) -> None:
    room: Room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    async with (
        subscribed_client(server_url, freelancer.token) as first,
        subscribed_client(server_url, freelancer.token) as second,
    ):
        await first.subscribe_notifications("n")
        await second.subscribe_notifications("n")
        await first.expect_silence(0.3)
        await room.activate(0)
        assert (await first.take("n", 1))[0]["kind"] == "MILESTONE_ACTIVATED"
        assert (await second.take("n", 1))[0]["kind"] == "MILESTONE_ACTIVATED"
