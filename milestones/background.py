"""A loop an instance runs beside serving (the email sender, the pruner): started in the app's
lifespan, cancelled when it ends."""

from __future__ import annotations

import asyncio
import contextlib


class BackgroundLoop:
    task_name = "background"

    _task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.task_name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    async def _run(self) -> None:
        raise NotImplementedError
