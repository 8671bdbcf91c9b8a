"""Subscriptions asking the same thing as the same viewer share one stream (one group);
what each socket receives is exactly what it would have received alone."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from starlette.applications import Starlette

from milestones.live.fanout import Member, Request, SharedSubscriptions
from milestones.models import User
from milestones.schema.context import Context
from tests.helpers import Actor, create_contract_with_milestones
from tests.subscriptions.wsclient import subscribed_client

ROOM_EVENTS = """
subscription Room($contractId: ID!, $after: String) {
  contractEvents(contractId: $contractId, after: $after) { cursor kind contract { viewerRole } }
}
"""


def _graphql(app: Starlette) -> Any:
    graphql = next(route.app for route in app.routes if getattr(route, "path", "") == "/graphql")
    while not hasattr(graphql, "schema"):  # the room cache wraps the GraphQL app
        graphql = graphql.app
    return graphql


def _shared(app: Starlette) -> SharedSubscriptions:
    shared: SharedSubscriptions = _graphql(app).shared_subscriptions
    return shared


async def _until(condition: Any, within: float = 5.0) -> None:
    for _ in range(int(within / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


async def test_one_group_per_document_and_viewer(
    app: Starlette, server_url: str, client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    shared = _shared(app)
    async with (
        subscribed_client(server_url, freelancer.token) as fred1,
        subscribed_client(server_url, freelancer.token) as fred2,
        subscribed_client(server_url, client.token) as cleo,
    ):
        for ws in (fred1, fred2, cleo):
            await ws.subscribe("e", ROOM_EVENTS, contractId=room.contract_id)
        await _until(lambda: app.state.bus.listener_count_on("contract:") == 2)
        assert len(shared.groups) == 2
        sizes = sorted(len(group.members) for group in shared.groups.values())
        assert sizes == [1, 2]

        await room.add("M2", "50.00")
        roles = [(await ws.take("e", 1))[0]["contract"]["viewerRole"] for ws in (fred1, fred2)]
        assert roles == ["FREELANCER", "FREELANCER"]
        assert (await cleo.take("e", 1))[0]["contract"]["viewerRole"] == "CLIENT"

        # A socket that completes leaves its group; the last one out ends the stream.
        await fred1.send({"id": "e", "type": "complete"})
        await cleo.send({"id": "e", "type": "complete"})
        await _until(lambda: len(shared.groups) == 1)
        await _until(lambda: app.state.bus.listener_count_on("contract:") == 1)
        await room.add("M3", "50.00")
        assert (await fred2.take("e", 1))[0]["kind"] == "MILESTONE_ADDED"
        await fred1.expect_silence(0.2)


async def test_a_late_joiner_receives_what_happens_after_it_joined(
    app: Starlette, server_url: str, client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    async with (
        subscribed_client(server_url, freelancer.token) as early,
        subscribed_client(server_url, freelancer.token) as late,
    ):
        await early.subscribe("e", ROOM_EVENTS, contractId=room.contract_id)
        await _until(lambda: app.state.bus.listener_count_on("contract:") == 1)
        await room.add("Before", "1.00")
        (first,) = await early.take("e", 1)
        await late.subscribe("e", ROOM_EVENTS, contractId=room.contract_id)
        await _until(lambda: sum(len(g.members) for g in _shared(app).groups.values()) == 2)
        await room.add("After", "1.00")
        (second,) = await early.take("e", 1)
        (only,) = await late.take("e", 1)
        assert only["cursor"] == second["cursor"] != first["cursor"]
        await late.expect_silence(0.2)


async def test_a_replay_never_joins_a_group_that_has_delivered(
    app: Starlette, server_url: str, client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    async with subscribed_client(server_url, freelancer.token) as ws:
        await ws.subscribe("all", ROOM_EVENTS, contractId=room.contract_id)
        await _until(lambda: app.state.bus.listener_count_on("contract:") == 1)
        await room.add("M2", "1.00")
        (added,) = await ws.take("all", 1)
    # offered, accepted, the first milestone added, M2
    events = await _replay(server_url, freelancer, room.contract_id, None, 4)
    assert events[-1]["cursor"] == added["cursor"]
    start = events[0]["cursor"]
    async with (
        subscribed_client(server_url, freelancer.token) as first,
        subscribed_client(server_url, freelancer.token) as second,
    ):
        await first.subscribe("r", ROOM_EVENTS, contractId=room.contract_id, after=start)
        replayed = await first.take("r", 3)
        # Same document, variables and viewer: it may not share the delivered history.
        await second.subscribe("r", ROOM_EVENTS, contractId=room.contract_id, after=start)
        assert await second.take("r", 3) == replayed
        await room.add("M3", "1.00")
        assert (await first.take("r", 1)) == (await second.take("r", 1))


async def _replay(
    server_url: str, actor: Actor, contract_id: str, after: str | None, count: int
) -> list[dict[str, Any]]:
    """The contract's first `count` events, by replaying from the beginning."""
    from tests.helpers import EVENTS_QUERY

    data = await actor.gql(EVENTS_QUERY, {"id": contract_id, "first": count, "after": after})
    return [edge["node"] for edge in data["contract"]["events"]["edges"]]


class StallingSink:
    """Stands in for a socket: takes frames until told to stall, then behaves like the
    transport does with a socket whose backlog is full."""

    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []
        self.stalled = False
        self.ended: list[str] = []

    def deliver(self, member: Member, frame: str, position: int | None) -> None:
        if self.stalled:
            assert member.group is not None
            member.group.remove(member)
            member.behind = True
            return
        self.frames.append(orjson.loads(frame))
        member.position = position

    def operation_ended(self, member: Member, frame: str) -> None:
        self.ended.append(frame)


async def test_a_member_that_fell_behind_resumes_from_the_database_without_gap_or_repeat(
    app: Starlette, client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    graphql = _graphql(app)
    shared = SharedSubscriptions(graphql.schema)
    viewer = await User.get(sub="freelancer")
    context = Context(settings=app.state.settings, viewer=viewer, bus=app.state.bus)
    sink = StallingSink()
    request = Request(ROOM_EVENTS, {"contractId": room.contract_id}, None)
    member = Member(sink, "e", "contractEvents", request)
    shared.join(member, context)
    await _until(lambda: app.state.bus.listener_count_on("contract:") == 1)

    await room.add("Seen", "1.00")
    await _until(lambda: len(sink.frames) == 1)
    sink.stalled = True
    for number in range(3):
        await room.add(f"Missed {number}", "1.00")
    await _until(lambda: member.behind)
    await _until(
        lambda: app.state.bus.listener_count_on("contract:") == 0
    )  # its group ended with it
    sink.stalled = False
    shared.resume(member, context)
    await _until(lambda: len(sink.frames) == 4)
    await room.add("Live again", "1.00")
    await _until(lambda: len(sink.frames) == 5)

    cursors = [frame["payload"]["data"]["contractEvents"]["cursor"] for frame in sink.frames]
    everything = await _replay("", client, room.contract_id, None, 100)
    assert cursors == [event["cursor"] for event in everything[-5:]]
    assert all(frame["id"] == "e" and frame["type"] == "next" for frame in sink.frames)
    assert member.group is not None
    member.group.remove(member)
    await _until(lambda: app.state.bus.listener_count_on("contract:") == 0)
