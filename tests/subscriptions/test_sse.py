"""GraphQL over server-sent events (graphql-sse, distinct connections mode) on /graphql."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette

from milestones import ids
from milestones.config import Settings
from milestones.live.fanout import Member, Request
from milestones.web import sse as sse_module
from milestones.web.sse import EventStream, Subscriber
from tests.helpers import (
    Actor,
    create_contract_with_milestones,
    make_token,
    notification_nodes,
)
from tests.subscriptions.sseclient import event_stream
from tests.subscriptions.test_shared_groups import ROOM_EVENTS, _shared, _until
from tests.subscriptions.wsclient import subscribed_client

NOTIFICATIONS = """
subscription Notifications($after: String) {
  notifications(after: $after) { cursor kind message }
}
"""
STREAMS_PER_USER = 3


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"sse_keepalive_seconds": 0.3, "max_event_streams_per_user": STREAMS_PER_USER}
    )


def _http(server_url: str) -> str:
    return server_url.replace("ws://", "http://").removesuffix("/graphql")


async def test_notifications_carry_their_cursor_as_the_event_id(
    app: Starlette, server_url: str, client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    async with event_stream(_http(server_url), NOTIFICATIONS, token=freelancer.token) as sse:
        assert sse.response.status_code == 200
        assert sse.response.headers["content-type"].startswith("text/event-stream")
        await _until(lambda: app.state.bus.listener_count_on("user:") == 1)
        await room.add("Second", "10.00")
        await room.add("Third", "10.00")
        events = await sse.results(2)
    for event in events:
        notification = event.json()["data"]["notifications"]
        assert notification["kind"] == "MILESTONE_ADDED"
        assert event.id == notification["cursor"]
    assert (
        ids.decode_cursor(events[1].id, "notification")
        == (ids.decode_cursor(events[0].id, "notification") or 0) + 1
    )


async def test_last_event_id_resumes_after_it_and_wins_over_after(
    server_url: str, client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    for title in ("A", "B", "C"):
        await room.add(title, "10.00")
    everything = ids.encode_cursor("notification", 0)
    count = len(await notification_nodes(freelancer))
    assert count >= 4
    async with event_stream(
        _http(server_url), NOTIFICATIONS, {"after": everything}, token=freelancer.token
    ) as sse:
        history = (await sse.results(count))[-4:]
    cursors = [event.id for event in history]
    async with event_stream(
        _http(server_url),
        NOTIFICATIONS,
        {"after": everything},
        token=freelancer.token,
        last_event_id=cursors[1],
    ) as resumed:
        replayed = await resumed.results(2)
        assert [event.id for event in replayed] == cursors[2:]
        await room.add("D", "10.00")
        (live,) = await resumed.results(1)
        await resumed.expect_silence(0.3)
    assert live.json()["data"]["notifications"]["message"]
    assert (
        ids.decode_cursor(live.id, "notification")
        == (ids.decode_cursor(cursors[3], "notification") or 0) + 1
    )


async def test_contract_events_over_get_resume_by_last_event_id(
    server_url: str, client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    await room.add("M2", "10.00")
    await room.add("M3", "10.00")
    variables = {"contractId": room.contract_id, "after": ids.encode_cursor("event", 0)}
    async with event_stream(
        _http(server_url), ROOM_EVENTS, variables, token=client.token, method="GET"
    ) as sse:
        history = await sse.results(3)
    assert all(event.id == event.json()["data"]["contractEvents"]["cursor"] for event in history)
    async with event_stream(
        _http(server_url),
        ROOM_EVENTS,
        {"contractId": room.contract_id},
        token=client.token,
        method="GET",
        last_event_id=history[0].id,
    ) as resumed:
        assert [event.id for event in await resumed.results(2)] == [e.id for e in history[1:]]


async def test_sse_and_websocket_subscribers_share_one_group(
    app: Starlette, server_url: str, client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    shared = _shared(app)
    variables = {"contractId": room.contract_id}
    async with (
        subscribed_client(server_url, freelancer.token) as ws,
        event_stream(_http(server_url), ROOM_EVENTS, variables, token=freelancer.token) as sse,
    ):
        await ws.subscribe("e", ROOM_EVENTS, **variables)
        await _until(lambda: sum(len(g.members) for g in shared.groups.values()) == 2)
        assert len(shared.groups) == 1
        await room.add("M2", "10.00")
        (over_ws,) = await ws.take("e", 1)
        (over_sse,) = await sse.results(1)
        assert over_sse.json()["data"]["contractEvents"] == over_ws
        assert over_sse.id == over_ws["cursor"]
    # Both gone: the group ends with them.
    await _until(lambda: not shared.groups)


async def test_a_closed_stream_leaves_its_group(
    app: Starlette, server_url: str, freelancer: Actor
) -> None:
    async with event_stream(_http(server_url), NOTIFICATIONS, token=freelancer.token):
        await _until(lambda: len(_shared(app).groups) == 1)
    await _until(lambda: not _shared(app).groups)
    await _until(lambda: app.state.bus.listener_count_on("user:") == 0)


async def test_without_a_token_the_answer_is_401_before_the_body_is_read(
    server_url: str,
) -> None:
    async with httpx.AsyncClient(base_url=_http(server_url)) as http:
        response = await http.post(
            "/graphql",
            content=b"not even json",
            headers={"accept": "text/event-stream", "content-type": "application/json"},
        )
        bad = await http.get(
            "/graphql",
            params={"query": "{ __typename }"},
            headers={"accept": "text/event-stream", "authorization": "Bearer nope"},
        )
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert bad.status_code == 401
    assert bad.json()["errors"][0]["message"] == "Invalid token"


async def test_queries_and_mutations_answer_with_one_next_then_complete(
    server_url: str, client: Actor, freelancer: Actor
) -> None:
    async with event_stream(
        _http(server_url), "{ me { name } }", token=client.token, method="GET"
    ) as sse:
        first, last = await sse.next(), await sse.next()
        assert await sse.next() is None
    assert first is not None and first.event == "next" and first.id is None
    assert first.json()["data"]["me"]["name"] is not None
    assert last is not None and last.event == "complete"

    mutation = "mutation { markNotificationsRead(input: { all: true }) { count } }"
    async with event_stream(_http(server_url), mutation, token=client.token) as sse:
        (result,) = await sse.results(1)
    assert result.json()["data"]["markNotificationsRead"]["count"] == 0
    async with event_stream(_http(server_url), mutation, token=client.token, method="GET") as sse:
        (refused,) = await sse.results(1)
    assert refused.json()["errors"][0]["message"] == "Mutations need POST."


@pytest.mark.parametrize(
    ("query", "variables", "message"),
    [
        ("subscription { notifications { nope } }", None, "Cannot query field 'nope'"),
        ("subscription {", None, "Syntax Error"),
        (ROOM_EVENTS, {"contractId": ids.encode("Contract", 999999)}, "Contract not found."),
    ],
)
async def test_refusals_before_the_stream_come_as_a_next_then_complete(
    server_url: str, freelancer: Actor, query: str, variables: Any, message: str
) -> None:
    async with event_stream(_http(server_url), query, variables, token=freelancer.token) as sse:
        assert sse.response.status_code == 200
        (refused,) = await sse.results(1)
        complete = await sse.next()
    assert message in refused.json()["errors"][0]["message"]
    assert "data" not in refused.json() or refused.json()["data"] is None
    assert complete is not None and complete.event == "complete"


async def test_an_internal_error_after_the_headers_is_a_next_then_complete(
    server_url: str, freelancer: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the database went away (secret detail)")

    monkeypatch.setattr(sse_module.graphql_http, "read_params", broken)
    async with event_stream(_http(server_url), "{ me { name } }", token=freelancer.token) as sse:
        assert sse.response.status_code == 200
        (failed,) = await sse.results(1)
        complete = await sse.next()
        assert await sse.next() is None
    assert failed.json()["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert "secret" not in failed.data
    assert complete is not None and complete.event == "complete"


async def test_a_body_refusal_comes_in_the_stream(server_url: str, freelancer: Actor) -> None:
    async with event_stream(
        _http(server_url), "", token=freelancer.token, extra={"variables": [1]}
    ) as sse:
        (refused,) = await sse.results(1)
    assert refused.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


async def test_a_last_event_id_of_another_list_is_a_validation_error(
    server_url: str, freelancer: Actor
) -> None:
    async with event_stream(
        _http(server_url),
        NOTIFICATIONS,
        token=freelancer.token,
        last_event_id=ids.encode_cursor("event", 3),
    ) as sse:
        (refused,) = await sse.results(1)
    assert refused.json()["errors"][0]["extensions"]["code"] == "VALIDATION"


async def test_an_idle_stream_gets_keep_alive_comments(
    app: Starlette, server_url: str, freelancer: Actor
) -> None:
    async with event_stream(_http(server_url), NOTIFICATIONS, token=freelancer.token) as sse:
        with pytest.raises(TimeoutError):
            await sse.next(1.0)
        assert sse.comments >= 1


async def test_a_stream_ends_when_its_token_expires(
    server_url: str, settings: Settings, freelancer: Actor
) -> None:
    token = make_token(settings.jwt_secret, expires_in=2, sub=freelancer.sub)
    async with event_stream(_http(server_url), NOTIFICATIONS, token=token) as sse:
        # No `complete`: the client reconnects (with a fresh token) and resumes.
        assert await sse.next(10.0) is None


async def test_streams_per_user_are_limited(server_url: str, freelancer: Actor) -> None:
    base = _http(server_url)
    async with (
        event_stream(base, NOTIFICATIONS, token=freelancer.token),
        event_stream(base, NOTIFICATIONS, token=freelancer.token),
        event_stream(base, NOTIFICATIONS, token=freelancer.token),
        event_stream(base, NOTIFICATIONS, token=freelancer.token) as fourth,
    ):
        assert fourth.response.status_code == 429
        body = await fourth.response.aread()
        assert b"TOO_MANY_SUBSCRIPTIONS" in body
    async with event_stream(base, NOTIFICATIONS, token=freelancer.token) as again:
        assert again.response.status_code == 200


async def test_a_slow_reader_is_dropped_at_the_byte_bound() -> None:
    gate = asyncio.Event()
    sent: list[bytes] = []

    async def send(message: Any) -> None:
        await gate.wait()
        sent.append(message["body"])

    stream = EventStream(send, max_queued_bytes=1000)
    assert stream.push(b"a" * 10)  # waits on the socket: the rest queues
    assert stream.push(b"b" * 600)
    assert stream.push(b"c" * 400)
    assert not stream.ended.is_set()
    assert not stream.push(b"d")  # 1001 bytes would wait: the reader is dropped
    assert stream.dropped and stream.ended.is_set()
    assert stream.queued is not None and stream.queued_bytes == 0 and not stream.queued
    gate.set()
    await stream.close()
    # What had reached the socket, then the end of the body; the queued events were not
    # sent (the reader resumes them by Last-Event-ID).
    assert sent == [b"a" * 10, b""]


async def test_event_streams_bypass_the_room_cache(
    app: Starlette, server_url: str, client: Actor, freelancer: Actor
) -> None:
    # The cache reads and parses a body before any token is checked: not for event streams.
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    query = "query Room($id: ID!) { contract(id: $id) { title } }"
    for _ in range(2):
        async with event_stream(
            _http(server_url), query, {"id": room.contract_id}, token=client.token
        ) as sse:
            (result,) = await sse.results(1)
        assert result.json()["data"]["contract"]["title"]
    cache = app.state.room_cache
    assert (cache.hits, cache.misses) == (0, 0)


async def test_resumed_streams_merge_into_one_execution_once_they_are_level(
    app: Starlette, server_url: str, client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    await room.add("A", "10.00")
    await room.add("B", "10.00")
    cursors = [node["cursor"] for node in reversed(await notification_nodes(freelancer))]
    shared = _shared(app)
    base = _http(server_url)
    query = "subscription { notifications { cursor kind message } }"
    token = freelancer.token
    async with subscribed_client(server_url, token) as ws:
        await ws.subscribe("n", query)  # live: it starts at the newest notification
        await _until(lambda: [g.at for g in shared.groups.values()] == [len(cursors)])
        async with (
            event_stream(base, query, token=token, last_event_id=cursors[-3]) as far,
            event_stream(base, query, token=token, last_event_id=cursors[-2]) as near,
        ):
            assert [event.id for event in await far.results(2)] == cursors[-2:]
            assert [event.id for event in await near.results(1)] == cursors[-1:]
            # Three subscriptions from three positions, now level: one group serves all.
            await _until(
                lambda: [len(g.members) for gs in shared.running.values() for g in gs] == [3]
            )
            await room.add("C", "10.00")
            (over_ws,) = await ws.take("n", 1)
            for sse in (far, near):
                (event,) = await sse.results(1)
                assert event.json()["data"]["notifications"] == over_ws
                assert event.id == over_ws["cursor"]
                await sse.expect_silence(0.2)
            await ws.expect_silence(0.2)


async def test_open_streams_and_their_subscriptions_are_in_the_metrics(
    server_url: str, freelancer: Actor
) -> None:
    base = _http(server_url)

    async def gauges() -> tuple[float, float]:
        async with httpx.AsyncClient(base_url=base) as http:
            families = {
                family.name: family
                for family in text_string_to_metric_families((await http.get("/metrics")).text)
            }
        streams = families["milestones_open_event_streams"].samples[0].value
        active = sum(
            sample.value
            for sample in families["milestones_active_subscriptions"].samples
            if sample.labels.get("subscription") == "notifications"
        )
        return streams, active

    async def settled(expected: tuple[float, float]) -> None:
        for _ in range(100):
            if await gauges() == expected:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"metrics {await gauges()} != {expected}")

    before_streams, before_active = await gauges()
    async with event_stream(base, NOTIFICATIONS, token=freelancer.token):
        await settled((before_streams + 1, before_active + 1))
    await settled((before_streams, before_active))


async def test_an_event_is_framed_once_for_every_stream_of_its_group() -> None:
    sent: list[bytes] = []

    async def send(message: Any) -> None:
        sent.append(message["body"])

    result = '{"data":{"notifications":{"kind":"MILESTONE_ADDED"}}}'
    for _ in range(2):
        subscriber = Subscriber(EventStream(send, 1000), "notification")
        member = Member(subscriber, "sse", "notifications", Request("q", None, None))
        subscriber.deliver(member, result, 7)
    cursor = ids.encode_cursor("notification", 7)
    assert sent[0] == f"event: next\ndata: {result}\nid: {cursor}\n\n".encode()
    assert sent[1] is sent[0]
