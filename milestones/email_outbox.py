"""Notification emails, sent after commit from the durable `email_outbox` table.

An action writes the outbox row in its own transaction (so an email exists exactly when its
notification does) and rings the bus's `email` channel after commit. Each instance runs one
`EmailOutboxSender` (when SMTP_URL is set). It claims one email at a time: the due rows of one
recipient (several rows are one email listing them), under a lease (`next_attempt_at` set
`EMAIL_LEASE_SECONDS` ahead) taken in a short transaction, on PostgreSQL with
`SELECT … FOR UPDATE SKIP LOCKED`, so instances never send the same row at once (and an
advisory lock per address, so two instances never both open a coalescing window). The email is
sent within the lease or given up (a time limit of the lease minus a margin), and marked sent
right after: a slow SMTP server cannot make a claim outlive its lease, so another instance
never sends it again. A process that dies mid-send leaves the rows to be retried when the
lease runs out (at-least-once delivery; the Message-ID stays the same).

No floods: an email to an address that was emailed (claimed, on any instance) less than
`EMAIL_COALESCE_WINDOW` ago waits for the window's end, and everything that arrived for that
address meanwhile goes out as one email listing it (the in-app and live notifications stay one
per event). A retry waits for the window too.

Failures: a temporary one (connection, timeout, 4xx) is retried with exponential backoff, so
an SMTP server that is down for a while only delays mail; a permanent one (5xx, a message that
cannot be built) is parked (`failed_at`) after `EMAIL_MAX_ATTEMPTS` and counted in `/metrics`.
Headers are built from any text (control characters become spaces). Logs name rows by id,
never by address.

What an email says is rendered when it is sent (`milestones/emails/`), from the item stored
with each row: a text and an HTML part, the links to act, and a signed one-click
List-Unsubscribe link (RFC 8058). The recipient's settings are asked when a row is written and
again when it is sent: rows they no longer want (email turned off, a kind muted meanwhile) are
dropped, never sent.
SQLite is the single-process default: there is nobody to race with.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import email.utils
import hashlib
import logging
import re
import secrets
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

import aiosmtplib
from prometheus_client import Counter
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from milestones.background import BackgroundLoop
from milestones.config import Settings
from milestones.domain.email_items import EmailItem, wants_email
from milestones.emails.content import one_line, render_email
from milestones.emails.links import EmailLinks
from milestones.live.bus import WakeupBus
from milestones.models import EmailOutbox, Notification, User
from milestones.observability.metrics import REGISTRY

logger = logging.getLogger(__name__)

EMAIL_CHANNEL = "email"
SMTP_TIMEOUT_SECONDS = 10.0
# Longest sleep between looks at the outbox when nothing rings (another instance's rows,
# a lost wake-up).
IDLE_SECONDS = 30.0
# Most notifications one email lists; more go in the next one.
MAX_LISTED = 100

EMAILS_SENT = Counter(
    "milestones_emails_sent",
    "Notification emails sent (one email may list several notifications).",
    registry=REGISTRY,
)
EMAILS_PARKED = Counter(
    "milestones_emails_parked",
    "Notification emails given up after failing for a permanent reason.",
    registry=REGISTRY,
)

_ADDRESS = re.compile(r"[^\s<>\"'(),;:]+@[^\s<>\"'(),;:]+")


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


def describe(error: BaseException) -> str:
    """An error for logs and `last_error`: its type and message, email addresses masked."""
    text = _ADDRESS.sub("<address>", str(error)).strip()
    return f"{type(error).__name__}: {text}"[:500] if text else repr(error)[:500]


def build_message(
    sender: str,
    address: str,
    rows: list[EmailOutbox],
    links: EmailLinks,
    recipient_id: int | None,
    now: dt.datetime | None = None,
) -> EmailMessage:
    """One email for one recipient: the notification itself, or a list of them; a text and
    an HTML part. Every header value is one line of text, so no text (a title, a name) can
    add a header."""
    items = [item_of(row) for row in rows]
    rendered = render_email(
        items, links, links.unsubscribe(recipient_id) if recipient_id is not None else None
    )
    message = EmailMessage()
    message["From"] = sender
    message["To"] = address
    message["Subject"] = one_line(rendered.subject)
    message["Date"] = email.utils.format_datetime(now or _now())
    message["Message-ID"] = message_id(rows, links)
    if recipient_id is not None:
        # RFC 8058: a mail provider's one-click button POSTs to it; RFC 3834: no auto-replies.
        message["List-Unsubscribe"] = f"<{links.unsubscribe(recipient_id)}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    return message


def item_of(row: EmailOutbox) -> EmailItem:
    """What the row tells; a row written before items existed tells its subject."""
    if isinstance(row.details, dict):
        return EmailItem.from_json(row.details)
    return EmailItem(kind="", sentence=row.subject)


def message_id(rows: list[EmailOutbox], links: EmailLinks) -> str:
    """The same on every attempt to send these rows (a receiving server can drop a rare
    duplicate): one row's email is named by the row, a list by its rows."""
    first = rows[0]
    local = f"notification-{first.notification_id}.{first.id}"
    if len(rows) > 1:
        ids = ",".join(str(row.id) for row in rows)
        local += f".{len(rows)}.{hashlib.blake2b(ids.encode(), digest_size=6).hexdigest()}"
    return f"<{local}@{links.message_id_domain}>"


def is_permanent(error: BaseException) -> bool:
    """5xx answers say that trying again will not help; 4xx and lost connections may."""
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        return all(refusal.code >= 500 for refusal in error.recipients)
    if isinstance(error, aiosmtplib.SMTPResponseException):
        return 500 <= error.code < 600
    return not isinstance(error, aiosmtplib.SMTPException | OSError | TimeoutError)


@dataclass(frozen=True, slots=True)
class Claimed:
    """Rows leased to this instance: one email to `address`, for the user `recipient_id`."""

    address: str
    recipient_id: int
    rows: list[EmailOutbox]
    kinds: dict[int, str]  # row id -> the kind of its notification


class SmtpUnavailable(Exception):
    """The SMTP server could not be reached: this round stops, the rows wait their retry."""


def _address_lock_key(address: str) -> int:
    """A stable 64-bit advisory lock key for one recipient address."""
    digest = hashlib.blake2b(address.encode(), digest_size=8, person=b"email-lock").digest()
    return int.from_bytes(digest, "big", signed=True)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class EmailOutboxSender(BackgroundLoop):
    task_name = "email-outbox"

    def __init__(
        self,
        smtp_url: str,
        sender: str,
        bus: WakeupBus,
        *,
        retry_seconds: float = 10.0,
        max_retry_seconds: float = 3600.0,
        lease_seconds: float = 120.0,
        coalesce_window: dt.timedelta = dt.timedelta(minutes=2),
        max_attempts: int = 5,
        links: EmailLinks | None = None,
    ) -> None:
        self.server = SmtpServer.from_url(smtp_url)
        # Without the app's key (a sender made by hand), unsubscribe links verify nowhere.
        self.links = links or EmailLinks("http://127.0.0.1:8000", secrets.token_bytes(32))
        self.sender = sender
        self.bus = bus
        self.retry_seconds = retry_seconds
        self.max_retry_seconds = max_retry_seconds
        self.lease_seconds = lease_seconds
        # Sending gives up this long before the lease ends: time to mark the rows sent.
        self.send_seconds = lease_seconds - min(10.0, lease_seconds / 4)
        self.coalesce_window = coalesce_window
        self.max_attempts = max_attempts
        self._smtp: aiosmtplib.SMTP | None = None

    @classmethod
    def from_settings(cls, settings: Settings, bus: WakeupBus) -> EmailOutboxSender:
        assert settings.smtp_url is not None
        return cls(
            settings.smtp_url,
            settings.smtp_sender,
            bus,
            retry_seconds=settings.smtp_retry_seconds,
            lease_seconds=settings.email_lease_seconds,
            coalesce_window=settings.email_coalesce_window,
            max_attempts=settings.email_max_attempts,
            links=EmailLinks.of(settings.public_base_url, settings.jwt_secret),
        )

    async def _run(self) -> None:
        with self.bus.listen(EMAIL_CHANNEL) as doorbell:
            while not self.stopping:
                try:
                    await self.send_due()
                    wait = await self._seconds_until_next_due()
                except asyncio.CancelledError:
                    raise
                except SmtpUnavailable:
                    wait = self.retry_seconds
                except Exception as error:
                    logger.exception("email outbox round failed (%r)", error)
                    wait = self.retry_seconds
                await doorbell.wait(wait)

    async def send_due(self) -> int:
        """Send every email that is due now; how many were sent. SmtpUnavailable when the
        server cannot be reached (the rows claimed wait their retry)."""
        sent = 0
        try:
            while not self.stopping and (claimed := await self._claim()):
                if await self._send(claimed):
                    sent += 1
        finally:
            await self._disconnect()
        return sent

    def _pending(self) -> dict[str, object]:
        return {"sent_at__isnull": True, "failed_at__isnull": True}

    async def _claim(self) -> Claimed | None:
        """The due rows of one recipient, leased to this instance; None when nothing is due.

        A recipient emailed less than the coalescing window ago is not claimed: their due rows
        move to the window's end, to go out together. Rows to one address for two users (who
        share it) are two emails: each has its own unsubscribe link."""
        while True:
            now = _now()
            async with in_transaction() as connection:
                due = EmailOutbox.filter(**self._pending(), next_attempt_at__lte=now)
                # Which recipient is next (read only: the rows are locked below, under the
                # address's lock, so a claim never holds rows another claim would skip).
                address = await due.order_by("id").first().values_list("to_address", flat=True)
                if not isinstance(address, str):
                    return None
                if connection.capabilities.dialect == "postgres":
                    # One claim per address at a time across instances: the second sees the
                    # first's claimed_at (the window) once the first commits.
                    await connection.execute_query(
                        "SELECT pg_advisory_xact_lock($1)", [_address_lock_key(address)]
                    )
                rows = list(
                    await EmailOutbox.filter(
                        **self._pending(), next_attempt_at__lte=now, to_address=address
                    )
                    .order_by("id")
                    .limit(MAX_LISTED if self.coalesce_window else 1)
                    .select_for_update(skip_locked=True)
                )
                if not rows:
                    return None  # another instance took them meanwhile: next round
                notified = {
                    pk: (recipient_id, kind)
                    for pk, recipient_id, kind in await Notification.filter(
                        id__in=[row.notification_id for row in rows]
                    ).values_list("id", "recipient_id", "kind")
                }
                recipient_id = notified[rows[0].notification_id][0]
                rows = [row for row in rows if notified[row.notification_id][0] == recipient_id]
                ids = [row.id for row in rows]
                hold_until = await self._held_until(address, now)
                if hold_until is not None:
                    await EmailOutbox.filter(id__in=ids).update(next_attempt_at=hold_until)
                    continue
                await EmailOutbox.filter(id__in=ids).update(
                    next_attempt_at=now + dt.timedelta(seconds=self.lease_seconds),
                    claimed_at=now,
                )
            kinds = {row.id: str(notified[row.notification_id][1]) for row in rows}
            return Claimed(address, recipient_id, rows, kinds)

    async def _held_until(self, address: str, now: dt.datetime) -> dt.datetime | None:
        if not self.coalesce_window:
            return None
        # The last claim, not the last send: an email in flight on another instance counts.
        last_claimed = (
            await EmailOutbox.filter(to_address=address, claimed_at__isnull=False)
            .order_by("-claimed_at")
            .first()
            .values_list("claimed_at", flat=True)
        )
        if not isinstance(last_claimed, dt.datetime):
            return None
        hold_until = last_claimed + self.coalesce_window
        return hold_until if hold_until > now else None

    async def _seconds_until_next_due(self) -> float:
        due = (
            await EmailOutbox.filter(**self._pending())
            .order_by("next_attempt_at")
            .first()
            .values_list("next_attempt_at", flat=True)
        )
        if not isinstance(due, dt.datetime):
            return IDLE_SECONDS
        return min(max((due - _now()).total_seconds(), 0.05), IDLE_SECONDS)

    async def _wanted(self, claimed: Claimed) -> list[EmailOutbox]:
        """The claimed rows the recipient still wants (settings may have changed since the
        rows were written); the others are dropped: their notifications stay."""
        settings = (
            await User.filter(id=claimed.recipient_id)
            .first()
            .values_list("email_enabled", "muted_email_kinds")
        )
        enabled, muted = settings if isinstance(settings, tuple) else (False, "")
        wanted = [row for row in claimed.rows if wants_email(claimed.kinds[row.id], enabled, muted)]
        kept = {row.id for row in wanted}
        unwanted = [row.id for row in claimed.rows if row.id not in kept]
        if unwanted:
            await EmailOutbox.filter(id__in=unwanted, sent_at__isnull=True).delete()
        return wanted

    async def _send(self, claimed: Claimed) -> bool:
        address = claimed.address
        rows = await self._wanted(claimed)
        if not rows:
            return False
        try:
            message = build_message(self.sender, address, rows, self.links, claimed.recipient_id)
        except Exception as error:  # this text cannot become an email: trying again won't help
            await self._failed(rows, error, permanent=True)
            return False
        try:
            async with asyncio.timeout(self.send_seconds):
                smtp = await self._connected()
                await smtp.send_message(message)
        except SmtpUnavailable as unavailable:
            await self._failed(rows, unavailable.__cause__ or unavailable, permanent=False)
            raise
        except Exception as error:
            await self._disconnect()  # the session's state is unknown: start the next afresh
            await self._failed(rows, error, permanent=is_permanent(error))
            return False
        await EmailOutbox.filter(id__in=[row.id for row in rows], sent_at__isnull=True).update(
            sent_at=_now(), attempts=F("attempts") + 1, last_error=None
        )
        EMAILS_SENT.inc()
        return True

    async def _connected(self) -> aiosmtplib.SMTP:
        if self._smtp is not None and self._smtp.is_connected:
            return self._smtp
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
            raise SmtpUnavailable() from error
        self._smtp = smtp
        return smtp

    async def _disconnect(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            with contextlib.suppress(Exception):
                await smtp.quit()

    async def _failed(
        self, rows: list[EmailOutbox], error: BaseException, *, permanent: bool
    ) -> None:
        attempts = max(row.attempts for row in rows) + 1
        ids = [row.id for row in rows]
        now = _now()
        if permanent and attempts >= self.max_attempts:
            await EmailOutbox.filter(id__in=ids).update(
                attempts=F("attempts") + 1, last_error=describe(error), failed_at=now
            )
            EMAILS_PARKED.inc()
            logger.warning(
                "email (outbox rows %s) parked after %d attempts: %s",
                ids,
                attempts,
                describe(error),
            )
            return
        delay = min(self.retry_seconds * 2 ** (attempts - 1), self.max_retry_seconds)
        logger.warning(
            "email (outbox rows %s) failed (attempt %d, %s), retrying in %.0fs: %s",
            ids,
            attempts,
            "permanent" if permanent else "temporary",
            delay,
            describe(error),
        )
        await EmailOutbox.filter(id__in=ids).update(
            attempts=F("attempts") + 1,
            last_error=describe(error),
            next_attempt_at=now + dt.timedelta(seconds=delay),
        )
