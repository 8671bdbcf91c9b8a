"""The email outbox under abuse and failure, against a real SMTP server (aiosmtpd): no floods,
no duplicates across instances with a slow server, poison rows parked, no addresses in logs."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
import time
from collections.abc import AsyncIterator
from email.message import Message

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from starlette.applications import Starlette

from milestones.config import Settings
from milestones.domain.email_items import EmailItem
from milestones.email_outbox import EmailOutboxSender, SmtpUnavailable, build_message, describe
from milestones.emails.links import EmailLinks
from milestones.models import EmailOutbox, Notification
from tests.conftest import Actor
from tests.helpers import create_contract_with_milestones, notification_nodes, ok
from tests.subscriptions.servers import free_port
from tests.subscriptions.test_email_outbox import Mailbox, until

COALESCE_SECONDS = 6.0
LEASE_SECONDS = 4.0
ROUNDS = 49  # 98 notifications, and the acceptance of the offer: within a page of 100


class StrictMailbox(Mailbox):
    """Refuses some recipients for good (550), and may take its time over each message."""

    def __init__(self, refused: set[str], delay: float = 0.0) -> None:
        super().__init__()
        self.refused = refused
        self.delay = delay

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.refused:
            return f"550 5.1.1 <{address}>: no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        await asyncio.sleep(self.delay)
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture
async def mailbox(smtp_port: int, request: pytest.FixtureRequest) -> AsyncIterator[StrictMailbox]:
    refused, delay = getattr(request, "param", (set(), 0.0))
    box = StrictMailbox(refused, delay)
    controller = Controller(box, hostname="127.0.0.1", port=smtp_port)
    await asyncio.to_thread(controller.start)
    try:
        yield box
    finally:
        await asyncio.to_thread(controller.stop)


@pytest.fixture
def settings(settings: Settings, smtp_port: int) -> Settings:
    return settings.model_copy(
        update={
            "smtp_url": f"smtp://127.0.0.1:{smtp_port}",
            "smtp_sender": "milestones@example.com",
            "smtp_retry_seconds": 0.1,
            "email_coalesce_window": dt.timedelta(seconds=COALESCE_SECONDS),
            "email_max_attempts": 2,
        }
    )


def listed(message: Message) -> int:
    """How many notifications an email tells of."""
    body = message.get_body(("plain",))
    assert body is not None
    lines = [line for line in body.get_content().splitlines() if line.startswith("- ")]
    return len(lines) or 1


async def all_sent() -> bool:
    return not await EmailOutbox.filter(sent_at__isnull=True, failed_at__isnull=True).exists()


async def test_request_withdraw_rounds_send_a_handful_of_emails_and_every_notification(
    app: Starlette, mailbox: StrictMailbox, client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    await until(all_sent)
    before = len(mailbox.messages)
    started = time.monotonic()
    for _ in range(ROUNDS):
        payload = await room.request_changes([{"kind": "ADD", "title": "More", "amount": "5"}])
        await ok(
            freelancer,
            "withdrawChangeRequest",
            {"changeRequestId": payload["changeRequest"]["id"]},
        )
    elapsed = time.monotonic() - started
    to_cleo = await notification_nodes(client)
    assert len(to_cleo) == 2 * ROUNDS + 1  # and the acceptance of the offer, before the rounds
    await until(all_sent, within=COALESCE_SECONDS * 3)
    emails = [
        message
        for recipients, message in zip(
            mailbox.recipients[before:], mailbox.messages[before:], strict=True
        )
        if recipients == ["cleo@example.com"]
    ]
    # One email as the rounds start, then at most one a window (whatever the machine's load):
    # a handful for rounds that take a few seconds.
    assert 1 <= len(emails) <= 1 + math.ceil(elapsed / COALESCE_SECONDS), elapsed
    assert sum(listed(message) for message in emails) == 2 * ROUNDS
    assert await Notification.filter(recipient__sub="client").count() == 2 * ROUNDS + 1


async def _a_notification(client: Actor, freelancer: Actor) -> int:
    await create_contract_with_milestones(client, freelancer)
    notification = await Notification.all().order_by("id").first()
    assert notification is not None
    return notification.id


async def _row(notification_id: int, to: str, subject: str, body: str = "Body") -> EmailOutbox:
    return await EmailOutbox.create(
        notification_id=notification_id,
        to_address=to,
        subject=subject,
        body=body,
        next_attempt_at=dt.datetime.now(dt.UTC),
    )


@pytest.mark.parametrize("mailbox", [({"gone@example.com"}, 0.0)], indirect=True)
async def test_poison_rows_are_sent_safely_or_parked_and_never_block_others(
    app: Starlette, mailbox: StrictMailbox, client: Actor, freelancer: Actor
) -> None:
    await until(all_sent)
    notification_id = await _a_notification(client, freelancer)
    await until(all_sent)
    before = len(mailbox.messages)
    injected = await _row(
        notification_id, "a@example.com", "Logo\r\nBcc: victim@example.com\u2028x", "Body\x01 \x1b"
    )
    refused = await _row(notification_id, "gone@example.com", "Refused for good")
    unbuildable = await _row(notification_id, "not an address\r\n@@", "Cannot be built")
    fine = await _row(notification_id, "b@example.com", "Fine")
    app.state.bus.ring("email")

    async def settled() -> bool:
        return not await EmailOutbox.filter(
            id__in=[injected.id, refused.id, unbuildable.id, fine.id],
            sent_at__isnull=True,
            failed_at__isnull=True,
        ).exists()

    await until(settled, within=15)
    received = dict(
        zip(
            (recipients[0] for recipients in mailbox.recipients[before:]),
            mailbox.messages[before:],
            strict=True,
        )
    )
    assert set(received) == {"a@example.com", "b@example.com"}
    assert received["a@example.com"]["Subject"] == "Logo Bcc: victim@example.com x"
    assert received["a@example.com"]["Bcc"] is None
    for parked in (refused, unbuildable):
        await parked.refresh_from_db()
        assert parked.failed_at is not None and parked.sent_at is None
        assert parked.attempts == 2  # EMAIL_MAX_ATTEMPTS
        assert parked.last_error and "@example.com" not in parked.last_error
    metrics = (await client.http.get("/metrics")).text
    assert "milestones_email_outbox_failed 2.0" in metrics
    assert "milestones_email_outbox_size 0.0" in metrics


def test_headers_are_built_from_any_text() -> None:
    row = EmailOutbox(
        id=1,
        to_address="cleo@example.com",
        subject="A\nB\rC\x00D\tE\x85F",
        body="line 1\r\nline 2\x00\x07",
        details=EmailItem(
            kind="MILESTONE_ADDED", sentence="A\nB\rC\x00D\tE\x85F", note="line 1\r\nline 2\x00\x07"
        ).to_json(),
    )
    links = EmailLinks.of("http://127.0.0.1:8000", "secret")
    row.notification_id = 1  # set by hand: the ORM may not be initialised here
    message = build_message("milestones@example.com", "cleo@example.com", [row], links, 1)
    assert message["Subject"] == "A B C D E F"
    text = message.get_body(("plain",))
    assert text is not None
    assert "> line 1\n> line 2\n" in text.get_content()
    assert str(message).count("\nSubject:") == 1


def test_errors_are_described_with_their_type_and_without_addresses() -> None:
    assert describe(TimeoutError()) == "TimeoutError()"
    assert describe(ValueError("550 <cleo@example.com> refused")) == (
        "ValueError: 550 <<address>> refused"
    )


@pytest.mark.parametrize("mailbox", [(set(), 0.0)], indirect=True)
async def test_failed_sends_log_why_and_never_an_address(
    app: Starlette,
    mailbox: StrictMailbox,
    client: Actor,
    freelancer: Actor,
    caplog: pytest.LogCaptureFixture,
    smtp_port: int,
) -> None:
    await until(all_sent)
    notification_id = await _a_notification(client, freelancer)
    await until(all_sent)
    row = await _row(notification_id, "nobody@example.com", "Hello")
    # A sender whose server is not there: every attempt fails and is logged.
    sender = EmailOutboxSender(
        f"smtp://127.0.0.1:{free_port()}", "milestones@example.com", app.state.bus
    )
    await app.state.emails.stop()  # this test's sender is the only one
    with caplog.at_level(logging.WARNING, logger="milestones.email_outbox"):
        with pytest.raises(SmtpUnavailable):
            await sender.send_due()
    records = [r for r in caplog.records if r.name == "milestones.email_outbox"]
    assert records, "the failure was not logged"
    for record in records:
        text = record.getMessage()
        assert "@" not in text, text
        assert "ConnectionRefusedError" in text or "SMTPConnectError" in text, text
    await row.delete()


@pytest.mark.parametrize("mailbox", [(set(), 0.6)], indirect=True)
async def test_a_slow_smtp_server_and_two_instances_send_each_email_once(
    app: Starlette, mailbox: StrictMailbox, client: Actor, freelancer: Actor, smtp_port: int
) -> None:
    await until(all_sent)
    notification_id = await _a_notification(client, freelancer)
    await until(all_sent)
    before = len(mailbox.messages)
    addresses = [f"person{number:02}@example.com" for number in range(10)]
    # Two instances' senders with a short lease: one after the other, the ten take 6 s, the
    # lease is 4 s (a sender taking them all at once would outlive its lease).
    senders = [
        EmailOutboxSender(
            f"smtp://127.0.0.1:{smtp_port}",
            "milestones@example.com",
            app.state.bus,
            retry_seconds=0.1,
            lease_seconds=LEASE_SECONDS,
            coalesce_window=dt.timedelta(0),
        )
        for _ in range(2)
    ]
    await app.state.emails.stop()  # the two senders below are the only instances
    for address in addresses:
        await _row(notification_id, address, f"For {address}")
    for sender in senders:
        await sender.start()
    try:
        started = time.monotonic()
        await until(all_sent, within=20)
        await asyncio.sleep(LEASE_SECONDS + 0.5)  # a lapsed lease would have been re-sent
    finally:
        for sender in senders:
            await sender.stop()
    received = sorted(recipients[0] for recipients in mailbox.recipients[before:])
    assert received == addresses, f"after {time.monotonic() - started:.1f} s"
