"""Every warning says why: the exception's type even when its message is empty (issue 10:
"publishing wake-ups failed ()")."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from milestones.domain.transaction import Wakeup
from milestones.live.bus import WakeupBus
from tests.conftest import test_redis_url


@pytest.mark.redis
async def test_a_failed_publish_is_logged_with_its_exception_type(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    bus = WakeupBus(test_redis_url(scratch=1), reconnect_delay=0.05)
    await bus.start()
    try:
        assert bus.connected
        broadcast = bus._broadcast
        assert broadcast is not None

        async def times_out(channel: str, message: str) -> None:
            raise TimeoutError  # as asyncio.timeout raises it: no message at all

        broadcast.publish = times_out  # type: ignore[method-assign]
        with caplog.at_level(logging.WARNING, logger="milestones.live.bus"):
            await bus.publish([Wakeup("user:1", 1)])
            deadline = time.monotonic() + 5
            while not caplog.records:
                assert time.monotonic() < deadline, "nothing was logged"
                await asyncio.sleep(0.02)
    finally:
        await bus.stop()
    message = caplog.records[0].getMessage()
    assert "publishing wake-ups failed" in message
    assert "TimeoutError" in message and "()" in message and "failed ()" not in message
