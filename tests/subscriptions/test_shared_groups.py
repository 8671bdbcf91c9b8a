"""Subscriptions asking the same thing as the same viewer share one stream (one group);
what each socket receives is exactly what it would have received alone."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from graphql import parse
from starlette.applications import Starlette

from milestones import ids
from milestones.live import fanout
from milestones.live.fanout import Member, Request, SharedSubscriptions
from milestones.models import User
from milestones.observability.metrics import REGISTRY
from milestones.schema.context import Context
from tests.helpers import Actor, Room, create_contract_with_milestones
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


async def test_a_second_replay_from_the_same_cursor_shares_the_first_ones_stream(
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
        # The first group remembers what it replayed: the second is sent that, and shares
        # the stream from then on.
        await second.subscribe("r", ROOM_EVENTS, contractId=room.contract_id, after=start)
        assert await second.take("r", 3) == replayed
        assert sum(len(group) for group in _shared(app).running.values()) == 1
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

    def deliver_many(self, member: Member, frames: list[tuple[str, int | None]]) -> None:
        for frame, position in frames:
            self.deliver(member, frame, position)
            if member.group is None:
                return

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
    shared.subscribe(member, context, parse(ROOM_EVENTS))
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


# --- resuming from a group's recent results ---------------------------------------------


class RecordingSink:
    """Stands in for a socket that takes everything at once."""

    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []
        self.batches: list[int] = []  # the size of each catch-up handed over at once

    def deliver(self, member: Member, frame: str, position: int | None) -> None:
        self.frames.append(orjson.loads(frame))
        member.position = position

    def deliver_many(self, member: Member, frames: list[tuple[str, int | None]]) -> None:
        self.batches.append(len(frames))
        for frame, position in frames:
            self.deliver(member, frame, position)

    def operation_ended(self, member: Member, frame: str) -> None:
        raise AssertionError(f"ended: {frame}")

    def cursors(self) -> list[str]:
        return [frame["payload"]["data"]["contractEvents"]["cursor"] for frame in self.frames]


async def _subscriber(
    shared: SharedSubscriptions, context: Context, contract_id: str, after: str | None = None
) -> tuple[Member, RecordingSink]:
    sink = RecordingSink()
    variables = {"contractId": contract_id, "after": after}
    member = Member(sink, "e", "contractEvents", Request(ROOM_EVENTS, variables, None))
    shared.subscribe(member, context, parse(ROOM_EVENTS))
    return member, sink


async def _hub(app: Starlette) -> tuple[SharedSubscriptions, Context]:
    """Groups of their own, and the freelancer's context, for a test to drive directly."""
    shared = SharedSubscriptions(_graphql(app).schema)
    viewer = await User.get(sub="freelancer")
    return shared, Context(settings=app.state.settings, viewer=viewer, bus=app.state.bus)


async def _live_group(
    app: Starlette, client: Actor, freelancer: Actor, events: int
) -> tuple[Room, SharedSubscriptions, Context, Member, RecordingSink]:
    """A room, and a live subscriber that has received its first `events` events."""
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    shared, context = await _hub(app)
    live, live_sink = await _subscriber(shared, context, room.contract_id)
    await _until(lambda: app.state.bus.listener_count_on("contract:") == 1)
    for number in range(events):
        await room.add(f"M{number}", "1.00")
    await _until(lambda: len(live_sink.frames) == events)
    return room, shared, context, live, live_sink


def _resumes(served: str) -> float:
    return (
        REGISTRY.get_sample_value("milestones_subscription_resumes_total", {"served": served})
        or 0.0
    )


async def test_a_resume_joins_a_running_group_that_remembers_back_to_its_cursor(
    app: Starlette, client: Actor, freelancer: Actor
) -> None:
    room, shared, context, live, live_sink = await _live_group(app, client, freelancer, 4)
    delivered = live_sink.cursors()
    recent_before, replays_before = _resumes("recent"), _resumes("replay")

    # Cursors within what the group has delivered, and its newest: no execution of their own.
    resumed = [
        await _subscriber(shared, context, room.contract_id, after)
        for after in (delivered[0], delivered[2], delivered[3])
    ]
    assert [sink.cursors() for _, sink in resumed] == [delivered[1:], delivered[3:], []]
    assert [sink.batches for _, sink in resumed] == [[3], [1], []]  # each catch-up at once
    assert _resumes("recent") - recent_before == 3
    assert _resumes("replay") == replays_before
    (group,) = shared.running[live.kind]  # type: ignore[index]
    assert len(group.members) == 4

    await room.add("Live", "1.00")
    await _until(lambda: [len(sink.frames) for _, sink in resumed] == [4, 2, 1])
    newest = live_sink.cursors()[-1]
    for _, sink in resumed:
        assert sink.cursors()[-1] == newest
    everything = await _replay("", client, room.contract_id, None, 100)
    assert live_sink.cursors() == [event["cursor"] for event in everything[-5:]]

    for member in (live, *(member for member, _ in resumed)):
        assert member.group is group
        group.remove(member)
    assert shared.recent_bytes == 0  # nothing stays remembered once the group ends


async def test_a_resume_further_back_than_remembered_replays_then_shares(
    app: Starlette, client: Actor, freelancer: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fanout, "RECENT_FRAMES", 2)
    room, shared, context, live, live_sink = await _live_group(app, client, freelancer, 4)
    delivered = live_sink.cursors()
    (group,) = shared.running[live.kind]  # type: ignore[index]
    assert group.recent is not None and len(group.recent) == 2  # the two newest

    replays_before = _resumes("replay")
    member, sink = await _subscriber(shared, context, room.contract_id, delivered[0])
    assert _resumes("replay") - replays_before == 1  # its own replay, from the database
    await _until(lambda: len(sink.frames) == 3)
    assert sink.cursors() == delivered[1:]
    await _until(lambda: member.group is group)  # level with the live group: merged into it
    await room.add("Live", "1.00")
    await _until(lambda: len(sink.frames) == 4 and len(live_sink.frames) == 5)
    assert sink.cursors()[-1] == live_sink.cursors()[-1]
    group.remove(member)
    group.remove(live)
    assert shared.recent_bytes == 0


async def test_a_resume_ahead_of_a_group_still_replaying_gets_nothing_twice(
    app: Starlette, client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    for number in range(4):
        await room.add(f"M{number}", "1.00")
    everything = [
        event["cursor"] for event in await _replay("", client, room.contract_id, None, 100)
    ]
    shared, context = await _hub(app)
    # Both before the group has read anything: the second rides on the first's replay.
    first, first_sink = await _subscriber(shared, context, room.contract_id, everything[0])
    second, second_sink = await _subscriber(shared, context, room.contract_id, everything[-2])
    assert second.group is first.group
    await _until(lambda: len(first_sink.frames) == len(everything) - 1)
    assert first_sink.cursors() == everything[1:]
    assert second_sink.cursors() == everything[-1:]
    await room.add("Live", "1.00")
    await _until(lambda: len(second_sink.frames) == 2)
    assert second_sink.cursors()[-1] == first_sink.cursors()[-1]
    assert first.group is not None
    group = first.group
    group.remove(first)
    group.remove(second)


async def test_what_groups_remember_is_bounded_in_bytes(
    app: Starlette, client: Actor, freelancer: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    room, shared, context, live, live_sink = await _live_group(app, client, freelancer, 1)
    kept = shared.recent_bytes
    assert kept > 0
    monkeypatch.setattr(fanout, "RECENT_BYTES", kept)  # no room for one more
    await room.add("Not remembered", "1.00")
    await _until(lambda: len(live_sink.frames) == 2)
    assert shared.recent_bytes == 0
    (group,) = shared.running[live.kind]  # type: ignore[index]
    # It still serves a cursor at its newest result; one before is a replay of its own.
    member, sink = await _subscriber(shared, context, room.contract_id, live_sink.cursors()[1])
    assert member.group is group and sink.frames == []
    replays_before = _resumes("replay")
    older, older_sink = await _subscriber(shared, context, room.contract_id, live_sink.cursors()[0])
    assert older.group is not group and _resumes("replay") - replays_before == 1
    await _until(lambda: len(older_sink.frames) == 1)
    assert older_sink.cursors() == live_sink.cursors()[1:]
    for each in (live, member, older):
        if each.group is not None:
            each.group.remove(each)


class EndingSink(RecordingSink):
    def __init__(self) -> None:
        super().__init__()
        self.ended: list[dict[str, Any]] = []

    def operation_ended(self, member: Member, frame: str) -> None:
        self.ended.append(orjson.loads(frame))


async def test_an_after_that_is_not_a_cursor_is_refused_even_when_a_resume_position_is_given(
    app: Starlette, client: Actor, freelancer: Actor
) -> None:
    room, shared, context, live, live_sink = await _live_group(app, client, freelancer, 2)
    (group,) = shared.running[live.kind]  # type: ignore[index]
    sink = EndingSink()
    variables = {"contractId": room.contract_id, "after": "not a cursor"}
    member = Member(sink, "e", "contractEvents", Request(ROOM_EVENTS, variables, None))
    # As an SSE request with a Last-Event-ID the group remembers back to.
    position = ids.decode_cursor(live_sink.cursors()[0], "event")
    shared.subscribe(member, context, parse(ROOM_EVENTS), resume_after=position)
    assert member.group is not group  # not served from the live group's memory
    await _until(lambda: bool(sink.ended))
    (ended,) = sink.ended
    assert ended["type"] == "error" and sink.frames == []
    assert ended["payload"][0]["extensions"]["code"] == "VALIDATION"
    group.remove(live)
