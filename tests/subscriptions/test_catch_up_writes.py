"""A socket resuming a few events behind a running group gets its catch-up from the group's
memory in one write to the socket (`transport.write_text_frames`, below the ASGI send, through
`web/ws_protocol.LeanWebSocketProtocol.send_text_frames`):
on the server the tests run, that path is taken, and the frames arrive whole and in order. Single
frames (a fan-out's) take the same path, one write each."""

from __future__ import annotations

from typing import Any

import pytest

from milestones.live import transport
from tests.helpers import Actor, create_contract_with_milestones
from tests.subscriptions.wsclient import subscribed_client


async def test_a_catch_up_from_memory_is_one_write_and_arrives_in_order(
    server_url: str, client: Actor, freelancer: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    written: list[tuple[int, bool]] = []
    real = transport.write_text_frames

    def counted(send: Any, frames: list[str]) -> bool:
        done = real(send, frames)
        written.append((len(frames), done))
        return done

    monkeypatch.setattr(transport, "write_text_frames", counted)
    room = await create_contract_with_milestones(client, freelancer, ["10.00"])
    async with subscribed_client(server_url, client.token) as live:
        await live.subscribe_events("live", room.contract_id)
        await live.expect_silence(0.3)  # subscribed: live from here on
        for number in range(4):
            await room.add(f"Extra {number}", "5.00")
        seen = [(await live.next_payload("live"))["contractEvents"] for _ in range(4)]
        cursors = [event["cursor"] for event in seen]

        async with subscribed_client(server_url, client.token) as resumed:
            await resumed.subscribe_events("resumed", room.contract_id, after=cursors[0])
            caught_up = [
                (await resumed.next_payload("resumed"))["contractEvents"] for _ in range(3)
            ]
            assert [event["cursor"] for event in caught_up] == cursors[1:]
            assert caught_up == seen[1:]
            # From the group's memory, in one write; every other frame (the live ones, the
            # protocol's own) went straight out one by one.
            assert [entry for entry in written if entry[0] > 1] == [(3, True)]
            assert written and all(done for _, done in written)

            await room.add("After", "5.00")  # and then it takes what comes, as the other
            newest = (await resumed.next_payload("resumed"))["contractEvents"]
            assert newest == (await live.next_payload("live"))["contractEvents"]
            await resumed.expect_silence(0.3)
