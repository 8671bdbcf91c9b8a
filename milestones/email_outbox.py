"""Notification emails, sent after commit from the durable `email_outbox` table.

An action writes the outbox row in its own transaction (so an email exists exactly when its
notification does) and rings the bus's `email` channel after commit. Each instance runs one
`EmailOutboxSender` (when SMTP_URL is set): it claims due rows, sends them, and marks them
sent; a failure schedules a retry with exponential backoff, so an SMTP server that is down
for a while only delays mail. Claiming sets a lease (`next_attempt_at` in the future) in a
short transaction, on PostgreSQL with `SELECT … FOR UPDATE SKIP LOCKED`, so several
instances never send the same row at once; a process that dies mid-send leaves the row to
be retried when the lease runs out (at-least-once delivery; the Message-ID stays the same).
SQLite is the single-process default: there is nobody to race with.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

import aiosmtplib
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from milestones.live.bus import WakeupBus
from milestones.models import EmailOutbox

logger = logging.getLogger(__name__)

EMAIL_CHANNEL = "email"
SMTP_TIMEOUT_SECONDS = 10.0
# Longest sleep between looks at the outbox when nothing rings (another instance's rows,
# a lost wake-up).
IDLE_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class SmtpServer:
    hostname: str
    port: int
    username: str | None
    password: str | None
    use_tls: bool

    @classmethod
    def from_url(cls, url: str) -> SmtpServer:
        """`smtp://[user:password@]host[:port]` (STARTTLS when offered) or `smtps://…` (TLS)."""
        parts = urlsplit(url)
        if parts.scheme not in {"smtp", "smtps"} or not parts.hostname:
            raise ValueError("SMTP_URL must look like smtp://user:password@host:587")
        use_tls = parts.scheme == "smtps"
        return cls(
            hostname=parts.hostname,
            port=parts.port or (465 if use_tls else 25),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            use_tls=use_tls,
        )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class EmailOutboxSender:
    def __init__(
        self,
        smtp_url: str,
        sender: str,
        bus: WakeupBus,
        *,
        retry_seconds: float = 10.0,
        max_retry_seconds: float = 3600.0,
        lease_seconds: float = 120.0,
        batch_size: int = 20,
    ) -> None:
        self.server = SmtpServer.from_url(smtp_url)
        self.sender = sender
        self.bus = bus
        self.retry_seconds = retry_seconds
        self.max_retry_seconds = max_retry_seconds
        self.lease_seconds = lease_seconds
        self.batch_size = batch_size
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="email-outbox")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    async def _run(self) -> None:
        with self.bus.listen(EMAIL_CHANNEL) as doorbell:
            while True:
                try:
                    await self.send_due()
                    wait = await self._seconds_until_next_due()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    logger.exception("email outbox round failed")
                    wait = self.retry_seconds
                await doorbell.wait(wait)

    async def send_due(self) -> int:
        """Send every row that is due now; how many were sent."""
        sent = 0
        while rows := await self._claim():
            sent += await self._send(rows)
        return sent

    async def _claim(self) -> list[EmailOutbox]:
        now = _now()
        async with in_transaction():
            rows = (
                await EmailOutbox.filter(sent_at__isnull=True, next_attempt_at__lte=now)
                .order_by("id")
                .limit(self.batch_size)
                .select_for_update(skip_locked=True)
            )
            if rows:
                await EmailOutbox.filter(id__in=[row.id for row in rows]).update(
                    next_attempt_at=now + dt.timedelta(seconds=self.lease_seconds)
                )
        return list(rows)

    async def _seconds_until_next_due(self) -> float:
        due = (
            await EmailOutbox.filter(sent_at__isnull=True)
            .order_by("next_attempt_at")
            .first()
            .values_list("next_attempt_at", flat=True)
        )
        if not isinstance(due, dt.datetime):
            return IDLE_SECONDS
        return min(max((due - _now()).total_seconds(), 0.05), IDLE_SECONDS)

    def _message(self, row: EmailOutbox) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = row.to_address
        message["Subject"] = row.subject
        # The same id on every attempt: a receiving server can drop a rare duplicate.
        message["Message-ID"] = f"<notification-{row.notification_id}.{row.id}@milestones>"
        message.set_content(row.body)
        return message

    async def _send(self, rows: list[EmailOutbox]) -> int:
        smtp = aiosmtplib.SMTP(
            hostname=self.server.hostname,
            port=self.server.port,
            username=self.server.username,
            password=self.server.password,
            use_tls=self.server.use_tls,
            timeout=SMTP_TIMEOUT_SECONDS,
        )
        try:
            await smtp.connect()
        except Exception as error:
            for row in rows:
                await self._failed(row, error)
            return 0
        sent = 0
        try:
            for index, row in enumerate(rows):
                try:
                    await smtp.send_message(self._message(row))
                except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPConnectError) as error:
                    for unsent in rows[index:]:
                        await self._failed(unsent, error)
                    break
                except Exception as error:
                    await self._failed(row, error)
                else:
                    await EmailOutbox.filter(id=row.id).update(
                        sent_at=_now(), attempts=F("attempts") + 1, last_error=None
                    )
                    sent += 1
        finally:
            with contextlib.suppress(Exception):
                await smtp.quit()
        return sent

    async def _failed(self, row: EmailOutbox, error: BaseException) -> None:
        delay = min(self.retry_seconds * 2**row.attempts, self.max_retry_seconds)
        logger.warning(
            "email %s to %s failed (attempt %s), retrying in %.0fs: %s",
            row.id,
            row.to_address,
            row.attempts + 1,
            delay,
            error,
        )
        await EmailOutbox.filter(id=row.id).update(
            attempts=F("attempts") + 1,
            last_error=f"{type(error).__name__}: {error}"[:2000],
            next_attempt_at=_now() + dt.timedelta(seconds=delay),
        )
