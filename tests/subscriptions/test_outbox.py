"""The pieces under the fan-out: eager starts and the per-socket outbox."""

from __future__ import annotations

import asyncio
import time

import pytest

from milestones.live import eager, fanout
from milestones.live.fanout import Member, Outbox, Request
from milestones.live.transport import Expiries


async def test_a_coroutine_that_does_not_wait_runs_to_completion_in_the_call() -> None:
    done: list[int] = []

    async def quick() -> None:
        done.append(1)

    assert eager.start(quick()) is None
    assert done == [1]


async def test_a_coroutine_that_waits_is_finished_by_a_task() -> None:
    gate = asyncio.Event()
    steps: list[str] = []

    async def slow() -> None:
        steps.append("started")
        await gate.wait()
        await asyncio.sleep(0)
        steps.append("finished")

    pending = eager.start(slow())
    assert pending is not None and steps == ["started"]
    gate.set()
    await asyncio.wait_for(pending, 1)
    assert steps == ["started", "finished"]


async def test_an_error_before_waiting_reaches_the_caller_and_after_it_the_task() -> None:
    async def fails_at_once() -> None:
        raise ConnectionResetError

    with pytest.raises(ConnectionResetError):
        eager.start(fails_at_once())

    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def fails_later() -> None:
        await future

    pending = eager.start(fails_later())
    assert pending is not None
    future.set_exception(ConnectionResetError())
    with pytest.raises(ConnectionResetError):
        await asyncio.wait_for(pending, 1)


async def test_cancelling_the_task_cancels_what_it_waits_for() -> None:
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    cleaned: list[bool] = []

    async def waits() -> None:
        try:
            await future
        finally:
            cleaned.append(True)

    pending = eager.start(waits())
    assert pending is not None
    await asyncio.sleep(0)
    pending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await pending
    assert future.cancelled() and cleaned == [True]


class Socket:
    """An ASGI-like send: takes frames at once while open, waits while `blocked`."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.open = asyncio.Event()
        self.open.set()

    async def send(self, frame: str) -> None:
        await self.open.wait()
        self.sent.append(frame)


async def test_the_outbox_keeps_order_bounds_its_backlog_and_says_when_it_drained(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(fanout, "MAX_BACKLOG", 3)
    socket = Socket()
    drained: list[bool] = []
    outbox = Outbox(socket.send, lambda: drained.append(True))
    member = Member(None, "1", "contractEvents", Request("", None, None))  # type: ignore[arg-type]

    assert outbox.push("a", member, 1)
    assert socket.sent == ["a"] and member.position == 1
    socket.open.clear()
    assert outbox.push("b", member, 2)  # this send waits: the next ones queue behind it
    for frame, seq in (("c", 3), ("d", 4), ("e", 5)):
        assert outbox.push(frame, member, seq)
    assert not outbox.push("f", member, 6)  # the backlog is full: refused, not queued
    assert outbox.push("complete", None, None)  # the protocol's own messages always queue
    assert member.position == 2  # the send under way finishes: it counts as handed over
    socket.open.set()
    for _ in range(100):
        if drained:
            break
        await asyncio.sleep(0)
    assert drained == [True]
    assert socket.sent == ["a", "b", "c", "d", "e", "complete"]
    assert member.position == 5  # the last one it was sent: a resume starts after it
    await outbox.close()


async def test_a_socket_that_went_away_takes_nothing_more() -> None:
    async def gone(frame: str) -> None:
        raise RuntimeError('Cannot call "send" once a close message has been sent.')

    outbox = Outbox(gone, lambda: None)
    assert outbox.push("a", None, None)
    assert outbox.closed
    assert outbox.push("b", None, None)


class _Expiring:
    def __init__(self, name: str, fired: dict[str, float]) -> None:
        self.name, self.fired = name, fired
        self.expires_second: int | None = None

    def expire_now(self) -> None:
        assert self.name not in self.fired
        self.fired[self.name] = time.time()


async def test_expiries_close_each_socket_once_within_a_second_of_its_exp() -> None:
    expiries = Expiries()
    fired: dict[str, float] = {}
    now = time.time()
    exp = {"a": now + 0.1, "b": now + 0.2, "c": now + 0.1, "d": now + 1.6}
    handlers = {name: _Expiring(name, fired) for name in exp}
    for name in ("d", "a", "b", "c"):
        handlers[name].expires_second = expiries.add(handlers[name], exp[name])  # type: ignore[arg-type]
    gone = handlers["c"]  # its socket closed first
    expiries.remove(gone, gone.expires_second)  # type: ignore[arg-type]
    await asyncio.sleep(3.5)  # past d's second, and the timer's next round
    assert sorted(fired) == ["a", "b", "d"]
    for name, at in fired.items():
        assert exp[name] <= at < exp[name] + 1.5  # after its exp, within a second (and slack)
    assert expiries.due == {}
    assert [handlers[name].expires_second for name in fired] == [None, None, None]


async def test_a_catch_up_goes_out_in_one_write_while_the_socket_keeps_up() -> None:
    socket = Socket()
    writes: list[list[str]] = []

    def send_many(frames: list[str]) -> bool:
        writes.append(frames)
        return True

    outbox = Outbox(socket.send, lambda: None, send_many=send_many)
    member = Member(None, "1", "contractEvents", Request("", None, None))  # type: ignore[arg-type]
    assert outbox.push_many([("a", 1), ("b", 2), ("c", 3)], member)
    assert writes == [["a", "b", "c"]] and socket.sent == [] and member.position == 3
    # One frame: an ordinary push, which goes straight out too while the socket keeps up.
    assert outbox.push_many([("d", 4)], member)
    assert writes == [["a", "b", "c"], ["d"]] and socket.sent == [] and member.position == 4
    assert outbox.push("e", None, None)
    assert writes[-1] == ["e"] and socket.sent == []
    await outbox.close()


async def test_a_catch_up_the_transport_cannot_write_at_once_goes_frame_by_frame(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(fanout, "MAX_BACKLOG", 2)
    socket = Socket()
    outbox = Outbox(socket.send, lambda: None, send_many=lambda frames: False)
    member = Member(None, "1", "contractEvents", Request("", None, None))  # type: ignore[arg-type]
    assert outbox.push_many([("a", 1), ("b", 2)], member)
    assert socket.sent == ["a", "b"] and member.position == 2
    # While a send waits, a catch-up queues behind it, in order, and is refused past the bound.
    socket.open.clear()
    assert outbox.push("c", member, 3)
    assert not outbox.push_many([("d", 4), ("e", 5), ("f", 6)], member)
    socket.open.set()
    for _ in range(100):
        if socket.sent[-1:] == ["e"]:
            break
        await asyncio.sleep(0)
    assert socket.sent == ["a", "b", "c", "d", "e"] and member.position == 5
    await outbox.close()


async def test_a_catch_up_larger_than_the_byte_budget_is_not_written_at_once() -> None:
    socket = Socket()
    writes: list[list[str]] = []

    def send_many(frames: list[str]) -> bool:
        writes.append(frames)
        return True

    outbox = Outbox(socket.send, lambda: None, max_bytes=4, send_many=send_many)
    member = Member(None, "1", "contractEvents", Request("", None, None))  # type: ignore[arg-type]
    assert outbox.push_many([("abc", 1), ("def", 2)], member)
    assert writes == [["abc"], ["def"]]  # each on its own, within the budget one by one
    assert socket.sent == [] and member.position == 2
    await outbox.close()
