"""A client nobody here wrote: the npm `graphql-sse` package (distinct connections mode)."""

from __future__ import annotations

import asyncio
import os

from starlette.applications import Starlette

from tests.helpers import Actor, create_contract_with_milestones
from tests.subscriptions.test_graphql_ws_client import JS, installed, line, node_or_skip
from tests.subscriptions.test_shared_groups import _until


async def _client(server_url: str, token: str, count: int) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        node_or_skip(),
        str(JS / "sse-subscribe.mjs"),
        server_url.replace("ws://", "http://"),
        token,
        str(count),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "NODE_NO_WARNINGS": "1"},
    )


async def test_graphql_sse_client_runs_a_query_and_receives_notifications(
    app: Starlette, server_url: str, client: Actor, freelancer: Actor
) -> None:
    node_or_skip()
    await installed()
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    process = await _client(server_url, str(freelancer.token), 2)
    try:
        assert process.stdout is not None and process.stderr is not None
        answer = await line(process.stdout)
        assert answer["query"]["data"]["me"]["id"] == await freelancer.user_id()
        assert await line(process.stdout) == {"subscribing": True}
        await _until(lambda: app.state.bus.listener_count_on("user:") == 1)
        await room.add("Second", "10.00")
        await room.add("Third", "10.00")
        results = [await line(process.stdout), await line(process.stdout)]
        assert await asyncio.wait_for(process.wait(), 10) == 0, await process.stderr.read()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    kinds = [result["data"]["notifications"]["kind"] for result in results]
    assert kinds == ["MILESTONE_ADDED", "MILESTONE_ADDED"]


async def test_graphql_sse_client_is_refused_without_a_valid_token(server_url: str) -> None:
    node_or_skip()
    await installed()
    process = await _client(server_url, "not-a-token", 1)
    assert process.stderr is not None
    assert await asyncio.wait_for(process.wait(), 15) == 1
    assert "401" in (await process.stderr.read()).decode()
