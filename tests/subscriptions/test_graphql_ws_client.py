"""A client nobody here wrote: the npm `graphql-ws` package, driven by Node.js."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import in_ci
from tests.helpers import (
    Actor,
    create_contract_with_milestones,
    notifications,
    pending_change_request,
)

JS = Path(__file__).parent / "js"


def _node_or_skip() -> str:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        reason = "Node.js and npm are needed for the graphql-ws client test"
        if in_ci():
            pytest.fail(f"{reason} (CI=true: a missing tool is a failure, not a skip)")
        pytest.skip(reason)
    return node


async def _installed() -> None:
    """`npm ci` into tests/subscriptions/js when a clean clone has no node_modules yet."""
    if (JS / "node_modules" / "graphql-ws").is_dir():
        return
    process = await asyncio.create_subprocess_exec(
        "npm",
        "ci",
        "--no-audit",
        "--no-fund",
        cwd=JS,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 180)
    assert process.returncode == 0, f"npm ci failed:\n{output.decode(errors='replace')}"


async def _line(stream: asyncio.StreamReader, within: float = 10.0) -> dict[str, Any]:
    line = await asyncio.wait_for(stream.readline(), within)
    assert line, "the Node client ended without output"
    parsed: dict[str, Any] = json.loads(line)
    return parsed


async def test_graphql_ws_client_receives_a_notification(
    server_url: str, client: Actor, freelancer: Actor
) -> None:
    node = _node_or_skip()
    await _installed()
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    process = await asyncio.create_subprocess_exec(
        node,
        str(JS / "subscribe.mjs"),
        server_url,
        str(client.token),
        "1",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "NODE_NO_WARNINGS": "1"},
    )
    try:
        assert process.stdout is not None and process.stderr is not None
        assert await _line(process.stdout) == {"connected": True}
        await asyncio.sleep(0.3)  # the subscribe message reaches the server
        change_request_id = await pending_change_request(room)
        result = await _line(process.stdout)
        assert await asyncio.wait_for(process.wait(), 10) == 0, await process.stderr.read()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    notification = result["data"]["notifications"]
    assert notification["kind"] == "CHANGE_REQUEST_SUBMITTED"
    assert "requested changes" in notification["message"]
    assert change_request_id


async def test_graphql_ws_retry_resumes_from_the_cursor_kept_in_the_payload(
    server_url: str, client: Actor, freelancer: Actor
) -> None:
    """The README's pattern: the connection drops, two notifications happen meanwhile, and
    graphql-ws's own retry (token in `connectionParams.headers`) delivers exactly those two."""
    node = _node_or_skip()
    await _installed()
    room = await create_contract_with_milestones(client, freelancer, [])
    process = await asyncio.create_subprocess_exec(
        node,
        str(JS / "resume.mjs"),
        server_url,
        str(freelancer.token),
        "3",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "NODE_NO_WARNINGS": "1"},
    )
    try:
        assert process.stdin is not None
        assert process.stdout is not None and process.stderr is not None

        async def command(line: str) -> None:
            assert process.stdin is not None
            process.stdin.write(f"{line}\n".encode())
            await process.stdin.drain()

        assert await _line(process.stdout) == {"connected": 1}
        await asyncio.sleep(0.3)  # the subscribe message reaches the server
        await room.add("Before the drop", "10.00")
        before = await _line(process.stdout)
        await command("drop")
        assert await _line(process.stdout) == {"dropped": True}
        await room.add("Missed one", "20.00")
        await room.add("Missed two", "30.00")
        await command("reconnect")
        assert await _line(process.stdout) == {"connected": 2}
        resumed = [await _line(process.stdout), await _line(process.stdout)]
        assert await asyncio.wait_for(process.wait(), 10) == 0, await process.stderr.read()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    listed = await notifications(freelancer, first=3)
    newest_three = [edge["node"]["id"] for edge in listed["edges"]]
    assert [n["id"] for n in (before, *resumed)] == newest_three[::-1]
    assert {n["kind"] for n in (before, *resumed)} == {"MILESTONE_ADDED"}
