"""Runs the deadlines of fixed-price protection (`domain/deadlines.py`) and their reminders
(`domain/reminders.py`) in every instance.

The deadlines are rows, not timers: a round asks the database what is due and acts on it;
any number of instances may run rounds at once (each contract is acted on under its lock,
PostgreSQL skipping a contract another instance holds; each reminder is claimed the same way),
and an instance that starts after deadlines passed acts on them in its first round.

Idle, a round is one statement (`next_due`: the earliest deadline or reminder of any kind);
the scheduler then sleeps until that moment, but at most `IDLE_SECONDS` (for deadlines set
by another instance whose wake-up it did not hear, e.g. with `BROADCAST_URL=memory://`). An
action that sets a deadline, or ends a pause, rings the doorbell so a round runs at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from urllib.parse import urlsplit

import asyncpg

from milestones.background import cancel_and_wait
from milestones.domain import clock
from milestones.domain.deadlines import act_on_due, next_due, next_due_sql
from milestones.domain.reminders import send_due_reminders, when
from milestones.domain.windows import DEADLINES_CHANNEL
from milestones.live.brokers import asyncpg_dsn
from milestones.live.bus import WakeupBus

logger = logging.getLogger(__name__)

TASK_NAME = "deadline-scheduler"
# At most this long between looks when nothing known is due sooner (one statement a look).
IDLE_SECONDS = 2.0
BATCH = 100


class IdleQuestion:
    """Asks `next_due`. On PostgreSQL over the scheduler's own connection, kept open: through
    the pool every look would also cost the pool's reset of the connection (`RESET ALL`, ...),
    several transactions a look instead of one."""

    def __init__(self, database_url: str | None = None) -> None:
        scheme = urlsplit(database_url or "").scheme
        postgres = scheme in {"postgres", "postgresql", "asyncpg", "psycopg"}
        self.dsn = asyncpg_dsn(database_url) if database_url and postgres else None
        self._connection: asyncpg.Connection | None = None

    async def next_due(self) -> dt.datetime | None:
        if self.dsn is None:
            return await next_due()
        try:
            if self._connection is None or self._connection.is_closed():
                self._connection = await asyncpg.connect(self.dsn)
            row = await self._connection.fetchrow(next_due_sql())
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            await self.close()
            raise
        assert row is not None
        moments = [when(value) for value in row.values()]
        return min((moment for moment in moments if moment is not None), default=None)

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.close(timeout=2)


async def run_round(batch: int = BATCH, question: IdleQuestion | None = None) -> float:
    """One round: act on what is due; how long to sleep before the next one."""
    moment = clock.now()
    due = await (question or IdleQuestion()).next_due()
    if due is None:
        return IDLE_SECONDS
    if due > moment:
        return min((due - moment).total_seconds() + 0.01, IDLE_SECONDS)
    acted = await send_due_reminders(moment, batch) + await act_on_due(limit=batch)
    # More may be due: the next batch at once. Due but nothing acted: another instance holds
    # it (SKIP LOCKED) and acts on it; look again later.
    return 0.0 if acted > 0 else IDLE_SECONDS


class DeadlineScheduler:
    def __init__(self, bus: WakeupBus, database_url: str | None = None) -> None:
        self.bus = bus
        self.question = IdleQuestion(database_url)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=TASK_NAME)

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait([task])
        await self.question.close()

    async def _run(self) -> None:
        with self.bus.listen(DEADLINES_CHANNEL) as doorbell:
            while True:
                wait = IDLE_SECONDS
                try:
                    wait = await run_round(question=self.question)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    logger.exception("deadline round failed")
                if wait > 0:
                    await doorbell.wait(wait)
