"""Run a coroutine eagerly: up to its first real suspension in the caller's step, the rest (if
any) in a task. Python 3.12 has this as `eager_start`; 3.11 does not.

Fan-out sends one frame to thousands of sockets. A send almost never waits (the socket's
buffer has room), so a task per send would cost more than the send itself; awaiting each send
in turn would let one stalled socket hold up every other. Starting each send eagerly costs a
plain call when the send completes at once, and parks only the rare one that has to wait.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any


def start(coroutine: Coroutine[Any, Any, None]) -> asyncio.Future[None] | None:
    """None when `coroutine` ran to completion; otherwise the task that finishes it.

    An exception raised before the first suspension propagates to the caller."""
    try:
        waiting_on = coroutine.send(None)
    except StopIteration:
        return None
    return asyncio.ensure_future(_finish(coroutine, waiting_on))


async def _finish(coroutine: Coroutine[Any, Any, None], waiting_on: Any) -> None:
    """Drive `coroutine` on from where `start` left it, the way an asyncio task would."""
    while True:
        try:
            if waiting_on is None:  # a bare `yield`: asyncio.sleep(0)
                await asyncio.sleep(0)
            else:
                # The future's own result is read by the coroutine when it resumes.
                waiting_on._asyncio_future_blocking = False
                await asyncio.wait((waiting_on,))
        except asyncio.CancelledError:
            if waiting_on is not None:
                waiting_on.cancel()
            try:
                coroutine.throw(asyncio.CancelledError())
            except BaseException:  # it ended, as it should
                pass
            else:  # it wants to wait again: it was cancelled, it does not get to
                coroutine.close()
            raise
        try:
            waiting_on = coroutine.send(None)
        except StopIteration:
            return
