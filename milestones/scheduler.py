"""Runs the deadlines of fixed-price protection (`domain/deadlines.py`) in every instance.

The deadlines are rows, not timers: a round asks the database what is due and acts on it;
any number of instances may run rounds at once (each contract is acted on under its lock,
PostgreSQL skipping a contract another instance holds), and an instance that starts after
deadlines passed acts on them in its first round. Between rounds it sleeps at most
`IDLE_SECONDS` (one look a second when idle, so a deadline acts within about a second of
passing), and an action that sets a deadline rings the doorbell so a round runs at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from milestones.domain.deadlines import act_on_due
from milestones.domain.windows import DEADLINES_CHANNEL
from milestones.live.bus import WakeupBus

logger = logging.getLogger(__name__)

TASK_NAME = "deadline-scheduler"
IDLE_SECONDS = 1.0
BATCH = 100


class DeadlineScheduler:
    def __init__(self, bus: WakeupBus) -> None:
        self.bus = bus
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=TASK_NAME)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    async def _run(self) -> None:
        with self.bus.listen(DEADLINES_CHANNEL) as doorbell:
            while True:
                wait = IDLE_SECONDS
                try:
                    if await act_on_due(limit=BATCH) > 0:
                        wait = 0.0  # more may be due: the next batch at once
                except asyncio.CancelledError:
                    raise
                except Exception:
                    logger.exception("deadline round failed")
                await doorbell.wait(wait)
