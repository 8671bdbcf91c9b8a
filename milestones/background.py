"""A loop an instance runs beside serving (the email sender, the pruner): started in the app's
lifespan, cancelled when it ends; and `cancel_and_wait`, how every such task is stopped."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable

# How long a stop waits for a cancelled task before cancelling it again.
RECANCEL_SECONDS = 1.0


async def cancel_and_wait(tasks: Iterable[asyncio.Task[object] | None]) -> None:
    """Cancel the tasks and wait until each has ended, whatever it raised.

    A cancellation can be lost: on Python 3.11, an `asyncio.wait_for` inside a library swallows
    one that arrives as its inner call completes, and the task goes on as if nothing happened.
    Waiting once would then hang the shutdown forever (seen with the email sender on
    PostgreSQL); so a task that is still running a second later is cancelled again."""
    started = [task for task in tasks if task is not None]
    pending = set(started)
    while pending := {task for task in pending if not task.done()}:
        for task in pending:
            task.cancel()
        await asyncio.wait(pending, timeout=RECANCEL_SECONDS)
    for task in started:  # retrieve every outcome: none is reported as "never retrieved"
        if not task.cancelled():
            with contextlib.suppress(Exception):
                task.result()


class BackgroundLoop:
    task_name = "background"

    _task: asyncio.Task[None] | None = None
    # Set by `stop`: a loop checks it too, in case a cancellation is lost mid-round.
    stopping = False

    async def start(self) -> None:
        self.stopping = False
        self._task = asyncio.create_task(self._run(), name=self.task_name)

    async def stop(self) -> None:
        self.stopping = True
        task, self._task = self._task, None
        await cancel_and_wait([task])

    async def _run(self) -> None:
        raise NotImplementedError
