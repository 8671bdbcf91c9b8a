"""Stopping background tasks: a task that loses a cancellation is cancelled again, so an
instance's shutdown cannot hang on it."""

from __future__ import annotations

import asyncio

from milestones.background import cancel_and_wait


async def test_a_task_that_swallows_a_cancellation_is_cancelled_again() -> None:
    swallowed = 0

    async def stubborn() -> None:
        nonlocal swallowed
        while True:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                if swallowed:
                    raise
                swallowed += 1  # what a library's wait_for may do on Python 3.11

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    await asyncio.wait_for(cancel_and_wait([task, None]), timeout=5)
    assert task.cancelled() and swallowed == 1


async def test_a_failed_task_is_stopped_without_raising() -> None:
    async def fails() -> None:
        raise RuntimeError("boom")

    task = asyncio.create_task(fails())
    await asyncio.sleep(0)
    await cancel_and_wait([task])
    assert task.done() and not task.cancelled()
