"""Deadlines against real `milestones serve` processes, part two: reminders, the pause a
pending refund request puts on the review deadline, and catching up after a restart. On
SQLite one server, on PostgreSQL two on one database."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import pytest

from milestones.auth import issue_token
from tests.conftest import (
    TEST_JWT_SECRET,
    Actor,
    is_postgres_url,
    postgres_unavailable,
    require_service,
    test_database_url,
    test_postgres_url,
)
from tests.databases import migrated_sqlite_url
from tests.helpers import JSON, Room, create_contract_with_milestones, event_kinds
from tests.security.servers import fresh_postgres_database, serve, server_environment

POSTGRES = is_postgres_url(test_database_url())
INSTANCES = 2 if POSTGRES else 1
PATIENCE_SECONDS = 60.0
# What the contract promises: an automatic action within 5 s of its deadline (of readiness,
# after a restart).
PROMISE_SECONDS = 5.0

REMINDERS_QUERY = """
query { notifications(first: 100) { edges { node {
  kind message deadline createdAt actor { id } milestone { id } refundRequest { id }
} } } }
"""


class Database:
    """Where the servers of one test keep their data, for any number of starts."""

    def __init__(self, url: str, logs: Path) -> None:
        self.url = url
        self.logs = logs
        self.starts = 0

    def serve(self, windows: dict[str, str], count: int) -> AsyncExitStackServers:
        self.starts += 1
        env = server_environment(self.url, **windows)
        return AsyncExitStackServers(serve(env, self.logs / f"start-{self.starts}", count))


class AsyncExitStackServers:
    def __init__(self, servers: object) -> None:
        self._servers = servers
        self._stack = AsyncExitStack()
        self.clients: list[httpx.AsyncClient] = []

    async def __aenter__(self) -> AsyncExitStackServers:
        urls: list[str] = await self._stack.enter_async_context(self._servers)  # type: ignore[arg-type]
        self.clients = [httpx.AsyncClient(base_url=url, timeout=60.0) for url in urls]
        for client in self.clients:
            self._stack.push_async_callback(client.aclose)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()

    def actors(self, sub: str) -> list[Actor]:
        token = issue_token(TEST_JWT_SECRET, sub, name=sub.title())
        return [Actor(http, sub, token) for http in self.clients]


@pytest.fixture(params=[pytest.param("db", marks=[pytest.mark.postgres] if POSTGRES else [])])
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    if POSTGRES:
        require_service(postgres_unavailable(test_postgres_url()))
        with fresh_postgres_database(test_postgres_url()) as url:
            yield Database(url, tmp_path / "logs")
    else:
        yield Database(migrated_sqlite_url(tmp_path / "deadlines.sqlite3"), tmp_path / "logs")


def _moment(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _event(room: JSON, kind: str) -> JSON | None:
    for edge in room["events"]["edges"]:
        if edge["node"]["kind"] == kind:
            node: JSON = edge["node"]
            return node
    return None


async def _until(check: Callable[[], Awaitable[bool]], patience: float = PATIENCE_SECONDS) -> None:
    give_up = time.monotonic() + patience
    while not await check():
        assert time.monotonic() < give_up, "gave up waiting"
        await asyncio.sleep(0.2)


async def _submitted(client: Actor, freelancer: Actor, *, refund: bool = False) -> Room:
    room = await create_contract_with_milestones(client, freelancer, ["10.00"])
    await room.activate(0)
    await room.submit(0)
    if refund:
        await room.request_refund(0)
    return room


async def _reminders(actor: Actor) -> list[JSON]:
    data = await actor.gql(REMINDERS_QUERY)
    return [
        edge["node"]
        for edge in data["notifications"]["edges"]
        if edge["node"]["kind"] == "DEADLINE_REMINDER"
    ]


async def test_whoever_must_act_is_reminded_once_before_the_deadline(database: Database) -> None:
    windows = {"REVIEW_WINDOW": "6s", "REFUND_RESPONSE_WINDOW": "6s", "REMINDER_BEFORE": "3s"}
    async with database.serve(windows, INSTANCES) as servers:
        clients, freelancers = servers.actors("client"), servers.actors("freelancer")
        review = await _submitted(clients[0], freelancers[-1])
        refund = await _submitted(clients[-1], freelancers[0], refund=True)

        async def both_acted() -> bool:
            return "MILESTONE_AUTO_RELEASED" in event_kinds(
                await review.read()
            ) and "REFUND_AUTO_ACCEPTED" in event_kinds(await refund.read())

        await _until(both_acted)
        await asyncio.sleep(1.0)  # nothing more comes

        review_room, refund_room = await review.read(), await refund.read()
        # The client must review: one reminder, naming the review deadline, before it.
        (to_client,) = await _reminders(clients[0])
        assert review_room["milestones"][0]["reviewDeadline"] is None  # released since
        released = _event(review_room, "MILESTONE_AUTO_RELEASED")
        assert released is not None
        assert to_client["milestone"] == {"id": review.milestone(0)}
        assert to_client["actor"] is None and to_client["refundRequest"] is None
        reminded_for = _moment(to_client["deadline"])
        assert _moment(to_client["createdAt"]) < reminded_for <= _moment(released["occurredAt"])
        assert reminded_for.strftime("%Y-%m-%d %H:%M UTC") in to_client["message"]
        # The freelancer must answer the refund request: one reminder naming its respondBy.
        (to_freelancer,) = await _reminders(freelancers[0])
        accepted = _event(refund_room, "REFUND_AUTO_ACCEPTED")
        assert accepted is not None and accepted["refundRequest"] is not None
        assert to_freelancer["refundRequest"] == accepted["refundRequest"]
        assert to_freelancer["actor"] is None
        assert _moment(to_freelancer["createdAt"]) < _moment(to_freelancer["deadline"])
        # A notification only: no room event of that kind.
        for room in (review_room, refund_room):
            assert "DEADLINE_REMINDER" not in event_kinds(room)


async def test_a_review_deadline_paused_by_a_refund_request_acts_once_it_is_declined(
    database: Database,
) -> None:
    windows = {"REVIEW_WINDOW": "2s", "REFUND_RESPONSE_WINDOW": "1d", "REMINDER_BEFORE": "1d"}
    async with database.serve(windows, INSTANCES) as servers:
        clients, freelancers = servers.actors("client"), servers.actors("freelancer")
        room = await _submitted(clients[0], freelancers[0], refund=True)
        state = await room.read()
        deadline = _moment(state["milestones"][0]["reviewDeadline"])
        refund_id = state["pendingRefundRequest"]["id"]
        # The review deadline passes while the request is pending: nothing happens.
        await asyncio.sleep(max((deadline - dt.datetime.now(dt.UTC)).total_seconds(), 0) + 3)
        state = await room.read()
        assert state["milestones"][0]["status"] == "SUBMITTED"
        assert "MILESTONE_AUTO_RELEASED" not in event_kinds(state)

        # Declined (through the other instance on PostgreSQL): the passed deadline acts at once.
        room.freelancer = freelancers[-1]
        await room.respond_to_refund(refund_id, "DECLINE")
        declined = _event(await room.read(), "REFUND_DECLINED")
        assert declined is not None

        async def released() -> bool:
            return "MILESTONE_AUTO_RELEASED" in event_kinds(await room.read())

        await _until(released, patience=30.0)
        state = await room.read()
        acted = _event(state, "MILESTONE_AUTO_RELEASED")
        assert acted is not None and acted["actor"] is None
        lag = _moment(acted["occurredAt"]) - _moment(declined["occurredAt"])
        assert lag <= dt.timedelta(seconds=PROMISE_SECONDS), lag
        assert state["milestones"][0]["status"] == "RELEASED"
        await asyncio.sleep(2.5)
        assert event_kinds(await room.read()).count("MILESTONE_AUTO_RELEASED") == 1


async def test_deadlines_that_passed_while_nothing_ran_act_once_after_a_restart(
    database: Database,
) -> None:
    windows = {"REVIEW_WINDOW": "8s", "REFUND_RESPONSE_WINDOW": "8s", "REMINDER_BEFORE": "1d"}
    async with database.serve(windows, INSTANCES) as servers:
        clients, freelancers = servers.actors("client"), servers.actors("freelancer")
        reviews = [await _submitted(clients[i % INSTANCES], freelancers[0]) for i in range(2)]
        refunds = [
            await _submitted(clients[0], freelancers[i % INSTANCES], refund=True) for i in range(2)
        ]
        deadlines = [(await room.read())["milestones"][0]["reviewDeadline"] for room in reviews]
        deadlines += [(await room.read())["pendingRefundRequest"]["respondBy"] for room in refunds]
        latest = max(_moment(deadline) for deadline in deadlines)
    stopped = dt.datetime.now(dt.UTC)  # every instance is down
    await asyncio.sleep(max((latest - stopped).total_seconds(), 0) + 2)

    async with database.serve(windows, 1) as first:
        ready = dt.datetime.now(dt.UTC)
        # On PostgreSQL a second instance joins: still exactly once.
        async with database.serve(windows, INSTANCES - 1):
            client = first.actors("client")[0]
            rooms = [(room, "MILESTONE_AUTO_RELEASED") for room in reviews] + [
                (room, "REFUND_AUTO_ACCEPTED") for room in refunds
            ]

            async def all_acted() -> bool:
                for room, kind in rooms:
                    if kind not in event_kinds(await room.read(client)):
                        return False
                return True

            for room in reviews + refunds:
                room.client = client
            await _until(all_acted, patience=30.0)
            await asyncio.sleep(2.5)  # and nothing more, on either instance
            for room, kind in rooms:
                state = await room.read(client)
                kinds = event_kinds(state)
                assert kinds.count(kind) == 1, kinds
                assert "MILESTONE_AUTO_RELEASED" not in kinds or "REFUND_AUTO_ACCEPTED" not in kinds
                acted = _event(state, kind)
                assert acted is not None and acted["actor"] is None
                when = _moment(acted["occurredAt"])
                # Not before the stop (it really waited for the restart) ...
                assert when > stopped, (when, stopped)
                # ... and within the promise of the instance being ready.
                assert when - ready <= dt.timedelta(seconds=PROMISE_SECONDS), when - ready
