"""One execution per event for subscriptions that ask the same thing as the same viewer; never
a result shared between viewers (what depends on who is looking stays theirs)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

import pytest
from starlette.applications import Starlette

from milestones.models import User
from milestones.schema import execution
from milestones.schema.context import Context
from tests.conftest import Actor
from tests.helpers import create_contract_with_milestones

ROOM_EVENTS = """
subscription Room($id: ID!) {
  contractEvents(contractId: $id) { id kind contract { viewerRole } }
}
"""


async def _subscribe(app: Starlette, viewer: User, contract_id: str) -> AsyncGenerator[Any, None]:
    graphql = next(route.app for route in app.routes if getattr(route, "path", "") == "/graphql")
    while not hasattr(graphql, "schema"):  # the room cache wraps the GraphQL app
        graphql = graphql.app
    context = Context(settings=app.state.settings, viewer=viewer, bus=app.state.bus)
    stream: AsyncGenerator[Any, None] = await graphql.schema.subscribe(
        ROOM_EVENTS, variable_values={"id": contract_id}, context_value=context
    )
    return stream


async def test_one_execution_per_event_and_viewer_and_no_sharing_between_viewers(
    app: Starlette, client: Actor, freelancer: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    cleo = await User.get(sub="client")
    fred = await User.get(sub="freelancer")
    executions = 0
    original = execution.SharedEventExecutionContext._execute

    async def counting(self: execution.SharedEventExecutionContext, serially: bool | None) -> Any:
        nonlocal executions
        executions += 1
        return await original(self, serially)

    monkeypatch.setattr(execution.SharedEventExecutionContext, "_execute", counting)
    streams = [await _subscribe(app, viewer, room.contract_id) for viewer in (cleo,) * 5]
    streams += [await _subscribe(app, fred, room.contract_id) for _ in range(3)]
    first = [asyncio.ensure_future(stream.__anext__()) for stream in streams]
    bus = app.state.bus
    for _ in range(500):  # the subscriptions start listening as their first read begins
        if bus.listener_count_on("contract:") >= len(streams):
            break
        await asyncio.sleep(0.01)

    await room.add("M2", "50.00")
    results = await asyncio.wait_for(asyncio.gather(*first), timeout=5)

    roles = [result.data["contractEvents"]["contract"]["viewerRole"] for result in results]
    assert roles == ["CLIENT"] * 5 + ["FREELANCER"] * 3
    assert {result.data["contractEvents"]["kind"] for result in results} == {"MILESTONE_ADDED"}
    assert executions == 2  # one for Cleo's five subscriptions, one for Fred's three
    for stream in streams:
        await stream.aclose()
