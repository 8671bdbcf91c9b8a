"""Notification emails against a real SMTP server (aiosmtpd) running in the test process."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator, Callable
from email import message_from_bytes, policy
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from milestones.config import Settings
from milestones.models import EmailOutbox, Notification
from tests.conftest import TEST_JWT_SECRET, migrated_database_url
from tests.helpers import Actor, create_contract_with_milestones, notification_nodes
from tests.subscriptions.conftest import test_broadcast_url
from tests.subscriptions.servers import free_port

RETRY_SECONDS = 0.2


class Mailbox:
    """What the SMTP server received."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.recipients: list[list[str]] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 OK"


class SmtpServer:
    def __init__(self, port: int) -> None:
        self.mailbox = Mailbox()
        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=port)

    async def start(self) -> None:
        await asyncio.to_thread(self.controller.start)

    async def stop(self) -> None:
        await asyncio.to_thread(self.controller.stop)


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture
def settings(tmp_path: Path, request: pytest.FixtureRequest, smtp_port: int) -> Settings:
    with_smtp = getattr(request, "param", True)
    return Settings(
        database_url=migrated_database_url(tmp_path),
        broadcast_url=test_broadcast_url(),
        jwt_secret=TEST_JWT_SECRET,
        smtp_url=f"smtp://127.0.0.1:{smtp_port}" if with_smtp else None,
        smtp_sender="milestones@example.com",
        smtp_retry_seconds=RETRY_SECONDS,
        # One email per notification here; coalescing has its own tests.
        email_coalesce_window=dt.timedelta(0),
        milestones_env="development",
    )


@pytest.fixture
async def smtp(smtp_port: int) -> AsyncIterator[SmtpServer]:
    server = SmtpServer(smtp_port)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def until(condition: Callable[[], Any], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not await condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def _notification_count() -> int:
    return await Notification.all().count()


async def test_each_notification_is_emailed_once(
    app: object, smtp: SmtpServer, client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    await room.activate(0)
    await room.submit(0)
    expected = await _notification_count()
    assert expected == 5  # offered, added, activated (to Fred); accepted, submitted (to Cleo)

    async def all_sent() -> bool:
        return len(smtp.mailbox.messages) >= expected

    await until(all_sent)
    await asyncio.sleep(0.5)  # and no second copy comes later
    assert len(smtp.mailbox.messages) == expected
    to_fred = [n["message"] for n in await notification_nodes(freelancer)]
    to_cleo = [n["message"] for n in await notification_nodes(client)]
    received = sorted(
        (recipients[0], message["Subject"])
        for recipients, message in zip(smtp.mailbox.recipients, smtp.mailbox.messages, strict=True)
    )
    assert received == sorted(
        [("fred@example.com", subject) for subject in to_fred]
        + [("cleo@example.com", subject) for subject in to_cleo]
    )
    assert {message["From"] for message in smtp.mailbox.messages} == {"milestones@example.com"}
    assert len({message["Message-ID"] for message in smtp.mailbox.messages}) == expected
    assert await EmailOutbox.filter(sent_at__isnull=True).count() == 0


async def test_emails_are_retried_after_the_smtp_server_was_down(
    app: object, smtp_port: int, client: Actor, freelancer: Actor
) -> None:
    started = time.monotonic()
    room = await create_contract_with_milestones(client, freelancer)
    assert time.monotonic() - started < 2, "an action waited for SMTP"

    async def failed_at_least_once() -> bool:
        return await EmailOutbox.filter(attempts__gte=1, last_error__isnull=False).exists()

    await until(failed_at_least_once)
    assert await EmailOutbox.filter(sent_at__isnull=False).count() == 0

    server = SmtpServer(smtp_port)
    await server.start()
    try:

        async def delivered() -> bool:  # Fred's offer, Cleo's acceptance
            return len(server.mailbox.messages) >= 2

        await until(delivered, within=15)
        await asyncio.sleep(0.5)
        assert len(server.mailbox.messages) == 2
        rows = await EmailOutbox.all()
        assert len(rows) == 2
        assert all(row.sent_at is not None for row in rows)
        assert max(row.attempts for row in rows) >= 2
        assert sorted(server.mailbox.recipients) == [["cleo@example.com"], ["fred@example.com"]]
        (notification,) = await notification_nodes(freelancer)
        sent_to_fred = [
            message
            for recipients, message in zip(
                server.mailbox.recipients, server.mailbox.messages, strict=True
            )
            if recipients == ["fred@example.com"]
        ]
        assert [message["Subject"] for message in sent_to_fred] == [notification["message"]]
    finally:
        await server.stop()
    assert room.contract_id


@pytest.mark.parametrize("settings", [False], indirect=True, ids=["no-smtp-url"])
async def test_no_email_without_smtp_url(
    app: object, smtp: SmtpServer, client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    await room.activate(0)
    await asyncio.sleep(0.5)
    assert await _notification_count() == 4  # offered, accepted, added, activated
    assert await EmailOutbox.all().count() == 0
    assert smtp.mailbox.messages == []


async def test_every_member_of_a_team_party_gets_their_own_email(
    app: object, smtp: SmtpServer, api: Any, freelancer: Actor
) -> None:
    from tests.helpers import ok
    from tests.teams.parties import client_company

    company = await client_company(api, freelancer)
    await ok(
        freelancer,
        "requestMilestoneChanges",
        {
            "contractId": company.room.contract_id,
            "changes": [{"kind": "ADD", "title": "X", "amount": "5"}],
        },
    )
    team_addresses = {"olga@corp.example", "adam@corp.example", "mia@corp.example"}

    async def team_told() -> bool:
        told = {
            recipients[0]
            for recipients, message in zip(
                smtp.mailbox.recipients, smtp.mailbox.messages, strict=True
            )
            if "requested changes" in str(message["Subject"])
        }
        return team_addresses <= told

    await until(team_told)
    await asyncio.sleep(0.3)
    to_team = [  # (each was told of the offer's acceptance before)
        (recipients[0], message["Subject"])
        for recipients, message in zip(smtp.mailbox.recipients, smtp.mailbox.messages, strict=True)
        if recipients[0] in team_addresses and "requested changes" in str(message["Subject"])
    ]
    assert sorted(address for address, _ in to_team) == sorted(team_addresses)
    assert {subject for _, subject in to_team} == {
        "Fred Freelancer requested changes to the milestones of “Website redesign”."
    }
