"""Tables that would grow forever are pruned: rows past their retention are deleted in batches.

A `PruneJob` names a model, the timestamp field that ages a row and the retention; a row is
pruned once that timestamp is older than the retention (a NULL timestamp, say an email not
sent yet, never is). Another table joins with one line in `prune_jobs`.

Each instance runs a `Pruner` every `PRUNE_INTERVAL`; a run happens on one instance at a time:
on PostgreSQL it holds a session advisory lock on one pooled connection for the run (another
instance finding it taken skips its turn; a dead instance's lock goes with its connection);
SQLite is the single-process default, where a process lock is enough. Each statement deletes
at most `PRUNE_BATCH_SIZE` rows, so a large backlog never holds long locks; a run stops after
`MAX_BATCHES_PER_RUN` batches and the next run goes on. `/metrics` shows the rows each job
pruned and when it last ran.

Events, notifications and the escrow ledger are the contract's history: never pruned.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from prometheus_client import Counter, Gauge
from tortoise import connections
from tortoise.models import Model

from milestones.background import BackgroundLoop
from milestones.config import Settings
from milestones.models import EmailOutbox, IdempotencyRecord, WebhookDelivery
from milestones.observability.metrics import REGISTRY

logger = logging.getLogger(__name__)

# Any fixed number: the advisory lock every instance's pruner asks for.
ADVISORY_LOCK_KEY = 0x6D696C7072756E65  # "milprune"
MAX_BATCHES_PER_RUN = 100
# The first run waits a little after start-up: instances starting together do not all try.
FIRST_RUN_DELAY_SECONDS = 5.0

PRUNED_ROWS = Counter(
    "milestones_pruned_rows",
    "Rows deleted by the pruning jobs, by job.",
    ["job"],
    registry=REGISTRY,
)
PRUNE_LAST_RUN = Gauge(
    "milestones_prune_last_run_timestamp_seconds",
    "When each pruning job last ran to the end on this instance (Unix time).",
    ["job"],
    registry=REGISTRY,
    multiprocess_mode="max",
)


@dataclass(frozen=True, slots=True)
class PruneJob:
    name: str
    model: type[Model]
    timestamp: str
    retention: dt.timedelta


def prune_jobs(settings: Settings) -> list[PruneJob]:
    return [
        PruneJob("idempotency_records", IdempotencyRecord, "created_at", settings.idempotency_ttl),
        PruneJob("emails_sent", EmailOutbox, "sent_at", settings.email_retention),
        PruneJob("emails_failed", EmailOutbox, "failed_at", settings.email_retention),
        PruneJob("webhooks_delivered", WebhookDelivery, "delivered_at", settings.webhook_retention),
        PruneJob("webhooks_parked", WebhookDelivery, "failed_at", settings.webhook_retention),
    ]


@contextlib.asynccontextmanager
async def _only_instance(process_lock: asyncio.Lock) -> AsyncIterator[bool]:
    """True while this instance is the one pruning (False: another one is)."""
    connection = connections.get("default")
    if connection.capabilities.dialect != "postgres":
        async with process_lock:  # SQLite: one process, one pruner
            yield True
        return
    async with connection.acquire_connection() as raw:
        held = bool(await raw.fetchval("SELECT pg_try_advisory_lock($1)", ADVISORY_LOCK_KEY))
        try:
            yield held
        finally:
            if held:
                try:
                    await raw.fetchval("SELECT pg_advisory_unlock($1)", ADVISORY_LOCK_KEY)
                except BaseException:
                    # The pool does not reset what it takes back (`database`): a connection
                    # that may still hold the lock is closed, not pooled.
                    raw.terminate()
                    raise


async def prune(job: PruneJob, batch_size: int, now: dt.datetime | None = None) -> int:
    """Delete the job's expired rows, a batch a statement; how many went."""
    cutoff = (now or dt.datetime.now(dt.UTC)) - job.retention
    expired = {f"{job.timestamp}__lt": cutoff}
    pruned = 0
    for _ in range(MAX_BATCHES_PER_RUN):
        ids = (
            await job.model.filter(**expired)
            .order_by("id")
            .limit(batch_size)
            .values_list("id", flat=True)
        )
        if not ids:
            break
        pruned += await job.model.filter(id__in=ids).delete()
        if len(ids) < batch_size:
            break
    return pruned


class Pruner(BackgroundLoop):
    task_name = "pruner"

    def __init__(self, jobs: list[PruneJob], *, interval_seconds: float, batch_size: int) -> None:
        self.jobs = jobs
        self.interval_seconds = interval_seconds
        self.batch_size = batch_size
        self._lock = asyncio.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> Pruner:
        return cls(
            prune_jobs(settings),
            interval_seconds=settings.prune_interval.total_seconds(),
            batch_size=settings.prune_batch_size,
        )

    async def _run(self) -> None:
        await asyncio.sleep(min(FIRST_RUN_DELAY_SECONDS, self.interval_seconds))
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                logger.warning("pruning failed (%r); trying again next interval", error)
            await asyncio.sleep(self.interval_seconds)

    async def run_once(self) -> dict[str, int] | None:
        """Rows pruned per job, or None when another instance is pruning."""
        async with _only_instance(self._lock) as held:
            if not held:
                return None
            pruned: dict[str, int] = {}
            for job in self.jobs:
                pruned[job.name] = count = await prune(job, self.batch_size)
                PRUNED_ROWS.labels(job=job.name).inc(count)
                PRUNE_LAST_RUN.labels(job=job.name).set(time.time())
                if count:
                    logger.info("pruned %d rows (%s)", count, job.name)
            return pruned
