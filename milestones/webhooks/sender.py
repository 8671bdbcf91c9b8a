"""Sends webhook deliveries from the durable `webhook_deliveries` outbox.

Each instance runs one `WebhookSender`. A round claims the deliveries that are due and at the
head of their endpoint's queue (the lowest pending `seq`): so an endpoint receives its
notifications in cursor order, and a failing one holds back only its own later deliveries.
Claiming is one short transaction that sets a lease (`next_attempt_at` in the future) and
counts the attempt, on PostgreSQL with `SELECT … FOR UPDATE SKIP LOCKED`: two instances never
claim the same delivery. The lease outlasts an attempt's time limits, so a delivery is only
sent again after its lease ran out, i.e. when the instance that held it died mid-attempt.
A 2xx marks it delivered (for good); anything else schedules a retry with exponential backoff
and jitter until the retry window (24 h) has passed, then parks it as failed. Every attempt
carries the same `webhook-id` and body, signed afresh (Standard Webhooks) with its own
timestamp. Redirects are not followed, proxies from the environment are not used, and only a
short excerpt of a failed response's body is read and kept.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
from dataclasses import dataclass

import httpx
from standardwebhooks import Webhook
from tortoise import connections
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from milestones.background import cancel_and_wait
from milestones.domain.webhooks import WEBHOOK_CHANNEL
from milestones.live.bus import WakeupBus
from milestones.models import WebhookDelivery, WebhookEndpoint
from milestones.observability.metrics import WEBHOOK_DELIVERIES
from milestones.webhooks.addresses import (
    RESOLVE_TIMEOUT_SECONDS,
    AddressRefused,
    Destination,
    check_destination,
)

logger = logging.getLogger(__name__)

# Longest sleep between looks at the outbox when nothing rings (another instance's rows).
IDLE_SECONDS = 30.0
# Shortest: a round never repeats faster than this while something is due but not claimable.
MIN_WAIT_SECONDS = 0.05
EXCERPT_BYTES = 300
USER_AGENT = "milestones-webhooks/1"
MAX_HEADS = 1000

# The pending head of each endpoint's queue: nothing pending comes before it.
_HEADS_SQL = (
    "SELECT d.id FROM webhook_deliveries d "
    "WHERE d.delivered_at IS NULL AND d.failed_at IS NULL AND NOT EXISTS ("
    "SELECT 1 FROM webhook_deliveries e WHERE e.endpoint_id = d.endpoint_id "
    "AND e.delivered_at IS NULL AND e.failed_at IS NULL AND e.seq < d.seq) "
    # The soonest due first, and a bounded list (it becomes an IN list).
    f"ORDER BY d.next_attempt_at, d.id LIMIT {MAX_HEADS}"
)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    first_delay_seconds: float = 5.0
    max_delay_seconds: float = 3600.0
    window_seconds: float = 24 * 3600.0

    def delay(self, attempts: int) -> float:
        """Exponential backoff with jitter: half fixed, half random, so that receivers that
        came back are not hit by every sender at the same instant."""
        growth = 2.0 ** min(max(attempts - 1, 0), 60)
        base = min(self.first_delay_seconds * growth, self.max_delay_seconds)
        return base / 2 + random.uniform(0, base / 2)  # jitter, not a secret


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def signed_headers(secret: str, message_id: str, body: bytes, at: dt.datetime) -> dict[str, str]:
    """The Standard Webhooks headers for one attempt."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, at, body),
    }


class WebhookSender:
    def __init__(
        self,
        bus: WakeupBus,
        *,
        production: bool,
        timeout_seconds: float = 10.0,
        retry: RetryPolicy | None = None,
        concurrency: int = 8,
    ) -> None:
        self.bus = bus
        self.production = production
        self.timeout_seconds = timeout_seconds
        self.retry = retry or RetryPolicy()
        self.concurrency = concurrency
        # Longer than anything one attempt may take: resolving, then the whole request.
        self.lease_seconds = RESOLVE_TIMEOUT_SECONDS + 4 * timeout_seconds + 30.0
        self._task: asyncio.Task[None] | None = None
        self._in_flight: set[asyncio.Task[bool]] = set()
        self._client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(self.timeout_seconds),
            follow_redirects=False,
            # A proxy would resolve the host itself and defeat the address check.
            trust_env=False,
            # No pooled connections: each attempt connects to the address it just checked.
            limits=httpx.Limits(max_keepalive_connections=0),
            headers={"user-agent": USER_AGENT},
        )
        self._task = asyncio.create_task(self._run(), name="webhook-sender")

    async def stop(self) -> None:
        await cancel_and_wait([self._task, *self._in_flight])
        self._task = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _run(self) -> None:
        with self.bus.listen(WEBHOOK_CHANNEL) as doorbell:
            while True:
                try:
                    room = self.concurrency - len(self._in_flight)
                    for delivery in await self.claim(room) if room > 0 else []:
                        task = asyncio.create_task(self._attempt_logged(delivery))
                        self._in_flight.add(task)
                        # A finished attempt may have unblocked the endpoint's next delivery.
                        task.add_done_callback(self._in_flight.discard)
                        task.add_done_callback(lambda _: doorbell.event.set())
                    wait = (
                        IDLE_SECONDS
                        if len(self._in_flight) >= self.concurrency
                        else await self._seconds_until_next_due()
                    )
                except asyncio.CancelledError:
                    raise
                except Exception:
                    logger.exception("webhook outbox round failed")
                    wait = self.retry.first_delay_seconds
                await doorbell.wait(wait)

    async def _heads(self) -> list[int]:
        rows = await connections.get("default").execute_query_dict(_HEADS_SQL)
        return [int(row["id"]) for row in rows]

    async def claim(self, limit: int) -> list[WebhookDelivery]:
        """Lease up to `limit` due head deliveries to this instance and count the attempt."""
        heads = await self._heads()
        if not heads:
            return []
        now = _now()
        async with in_transaction():
            rows = list(
                await WebhookDelivery.filter(
                    id__in=heads,
                    delivered_at__isnull=True,
                    failed_at__isnull=True,
                    next_attempt_at__lte=now,
                )
                .order_by("next_attempt_at", "id")
                .limit(limit)
                .select_for_update(skip_locked=True)
            )
            if rows:
                await WebhookDelivery.filter(id__in=[row.id for row in rows]).update(
                    attempts=F("attempts") + 1,
                    next_attempt_at=now + dt.timedelta(seconds=self.lease_seconds),
                )
        for row in rows:
            row.attempts += 1
        return rows

    async def _seconds_until_next_due(self) -> float:
        heads = await self._heads()
        due = (
            await WebhookDelivery.filter(id__in=heads)
            .order_by("next_attempt_at")
            .first()
            .values_list("next_attempt_at", flat=True)
            if heads
            else None
        )
        if not isinstance(due, dt.datetime):
            return IDLE_SECONDS
        return min(max((due - _now()).total_seconds(), MIN_WAIT_SECONDS), IDLE_SECONDS)

    async def send_due(self) -> int:
        """Claim and attempt everything due now, in order, until nothing is; how many were
        delivered (for tests and tools: the running sender does this by itself)."""
        delivered = 0
        while rows := await self.claim(self.concurrency):
            outcomes = await asyncio.gather(*(self._attempt(row) for row in rows))
            delivered += sum(outcomes)
        return delivered

    async def _attempt_logged(self, delivery: WebhookDelivery) -> bool:
        try:
            return await self._attempt(delivery)
        except asyncio.CancelledError:
            raise
        except Exception:  # the lease runs out and the delivery is tried again
            logger.exception("webhook delivery %s: attempt failed unexpectedly", delivery.id)
            return False

    async def _attempt(self, delivery: WebhookDelivery) -> bool:
        endpoint = await WebhookEndpoint.get_or_none(id=delivery.endpoint_id)
        if endpoint is None:  # deleted meanwhile: its deliveries went with it
            return False
        try:
            destination = await check_destination(endpoint.url, production=self.production)
        except AddressRefused as refused:
            await self._failed(delivery, None, f"refused: {refused}")
            return False
        body = delivery.payload.encode()
        try:
            # httpx's timeout bounds each read and write; this bounds the whole attempt
            # (a receiver dripping its answer a byte at a time).
            async with asyncio.timeout(self.timeout_seconds):
                status, excerpt = await self._post(destination, endpoint.secret, delivery, body)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # any failure to get an answer is a failed attempt
            await self._failed(delivery, None, f"{type(error).__name__}: {error}")
            return False
        if 200 <= status < 300:
            await self._delivered(delivery, status)
            return True
        await self._failed(delivery, status, excerpt)
        return False

    async def _post(
        self, destination: Destination, secret: str, delivery: WebhookDelivery, body: bytes
    ) -> tuple[int, str]:
        assert self._client is not None, "start() the sender first"
        url = httpx.URL(destination.url)
        headers = {
            "content-type": "application/json",
            **signed_headers(secret, delivery.message_id, body, _now()),
        }
        extensions: dict[str, object] = {}
        if destination.address is not None:
            # Connect to the address that was checked; the host still names the site for
            # the Host header and for TLS (SNI and certificate check).
            headers["host"] = url.netloc.decode("ascii")
            extensions["sni_hostname"] = destination.host
            url = url.copy_with(host=destination.address)
        async with self._client.stream(
            "POST", url, content=body, headers=headers, extensions=extensions
        ) as response:
            excerpt = b""
            if not 200 <= response.status_code < 300:
                async for chunk in response.aiter_bytes():
                    excerpt += chunk
                    if len(excerpt) >= EXCERPT_BYTES:
                        break
            return response.status_code, excerpt[:EXCERPT_BYTES].decode("utf-8", "replace")

    async def _delivered(self, delivery: WebhookDelivery, status: int) -> None:
        now = _now()
        WEBHOOK_DELIVERIES.labels("sent").inc()
        await WebhookDelivery.filter(id=delivery.id, attempts=delivery.attempts).update(
            delivered_at=now, next_attempt_at=now, last_status_code=status, last_error=None
        )

    async def _failed(self, delivery: WebhookDelivery, status: int | None, error: str) -> None:
        now = _now()
        deadline = delivery.created_at + dt.timedelta(seconds=self.retry.window_seconds)
        error = error[:EXCERPT_BYTES]
        if now >= deadline:
            WEBHOOK_DELIVERIES.labels("parked").inc()
            logger.warning(
                "webhook delivery %s parked after %s attempts: %s",
                delivery.id,
                delivery.attempts,
                error,
            )
            await WebhookDelivery.filter(id=delivery.id, attempts=delivery.attempts).update(
                failed_at=now, next_attempt_at=now, last_status_code=status, last_error=error
            )
            return
        WEBHOOK_DELIVERIES.labels("failed").inc()
        # The last retry lands at the end of the window, so a receiver back by then gets it.
        retry_at = min(now + dt.timedelta(seconds=self.retry.delay(delivery.attempts)), deadline)
        logger.info(
            "webhook delivery %s failed (attempt %s), retrying at %s: %s",
            delivery.id,
            delivery.attempts,
            retry_at.isoformat(),
            error,
        )
        await WebhookDelivery.filter(id=delivery.id, attempts=delivery.attempts).update(
            next_attempt_at=retry_at, last_status_code=status, last_error=error
        )
