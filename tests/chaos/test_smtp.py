"""Scenario 4: a slow SMTP server and two instances sending from one outbox.

An SMTP server of the test's own takes SMTP_DELAY seconds to accept each message (it answers
250 only then; a message whose client gave up before is not delivered, as a real server would
not). Both instances run their email sender against it with a short claim lease
(`EMAIL_LEASE_SECONDS`, issue 10 item 5) that the slow server outlasts many times over for a
batch. Every email must arrive exactly once: counted by Message-ID and by the notification it
is for, after waiting past the lease again so a late second copy would be seen.

Settings it relies on: `EMAIL_LEASE_SECONDS` (a server without it keeps its fixed lease of
120 s, which this short run never outlasts), `EMAIL_COALESCE_WINDOW=0s` (one email per
notification, so that emails can be counted by notification), `SMTP_RETRY_SECONDS`.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import threading
import time
from collections import Counter
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.chaos.conftest import Row
from tests.chaos.harness import (
    EDIT,
    Caller,
    MemoryWatch,
    Tally,
    bounded,
    contracts,
    fetch,
    fleet,
)
from tests.subscriptions.servers import RedisServer, free_port

SMTP_DELAY = 0.4
LEASE_SECONDS = 2
CONTRACTS = 6
EDITS = 4
DELIVERY_SECONDS = 90.0
NOTIFICATION = re.compile(r"notification-(\d+)\.")

pytestmark = [pytest.mark.chaos, pytest.mark.postgres]


class SlowMailbox:
    """aiosmtpd handler: slow to accept, and counts only what it accepted."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.lock = threading.Lock()
        self.message_ids: list[str] = []
        self.abandoned = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        await asyncio.sleep(self.delay)
        transport: Any = server.transport
        if transport is None or transport.is_closing():
            with self.lock:
                self.abandoned += 1
            return "451 the client left"
        assert isinstance(envelope.content, bytes)
        message = message_from_bytes(envelope.content, policy=policy.default)
        with self.lock:
            self.message_ids.append(str(message["Message-ID"]))
        return "250 OK"


async def _outbox(database: str) -> tuple[int, int, set[int]]:
    """(rows, rows not sent yet, notification ids with an email row)."""
    rows = await fetch(database, "SELECT notification_id, sent_at FROM email_outbox")
    unsent = sum(1 for row in rows if row["sent_at"] is None)
    return len(rows), unsent, {row["notification_id"] for row in rows}


async def test_slow_smtp_with_two_instances_sends_every_email_once(
    database: str, private_redis: RedisServer, tmp_path: Path, scoreboard: list[Row]
) -> None:
    row = Row("4 slow SMTP, two instances")
    scoreboard.append(row)
    tally = Tally()
    mailbox = SlowMailbox(SMTP_DELAY)
    smtp_port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=smtp_port)
    await asyncio.to_thread(controller.start)
    try:
        async with fleet(
            database,
            f"redis://127.0.0.1:{private_redis.port}/0",
            tmp_path / "logs",
            count=2,
            SMTP_URL=f"smtp://127.0.0.1:{smtp_port}",
            EMAIL_LEASE_SECONDS=str(LEASE_SECONDS),
            EMAIL_COALESCE_WINDOW="0s",
            SMTP_RETRY_SECONDS="1",
        ) as servers:
            caller = Caller(servers, tally)
            async with MemoryWatch(servers) as memory:
                rooms = await contracts(
                    caller, CONTRACTS, secrets.token_hex(3), ["20.00"], email=True
                )
                for number in range(EDITS):
                    await asyncio.gather(
                        *(
                            caller.answered(
                                room.client,
                                EDIT,
                                {"input": {"milestoneId": room.milestone_ids[0],
                                           "title": f"Edit {number}"}},
                                prefer=index,
                            )
                            for index, room in enumerate(rooms)
                        )
                    )  # fmt: skip
                deadline = time.monotonic() + DELIVERY_SECONDS
                while time.monotonic() < deadline:
                    rows, unsent, notifications = await _outbox(database)
                    if unsent == 0:
                        break
                    await asyncio.sleep(0.5)
                # A claim that lapsed would be sent again after the lease: wait past it.
                await asyncio.sleep(LEASE_SECONDS + 2)
                rows, unsent, notifications = await bounded(_outbox(database), 30, "outbox")
    finally:
        await asyncio.to_thread(controller.stop)

    with mailbox.lock:
        message_ids = list(mailbox.message_ids)
    by_message_id = Counter(message_ids)
    by_notification = Counter(
        int(match[1]) for match in map(NOTIFICATION.search, message_ids) if match
    )
    row.count(tally, memory.peak)
    row.duplicate_emails = max(
        sum(n - 1 for n in by_message_id.values()), sum(n - 1 for n in by_notification.values())
    )
    row.lost = len(notifications - set(by_notification))
    if unsent:
        row.problems.append(f"{unsent} of {rows} outbox rows unsent after {DELIVERY_SECONDS:.0f}s")
    if rows < CONTRACTS * EDITS:
        row.problems.append(f"only {rows} emails queued for {CONTRACTS * EDITS} edits")
    print(
        f"\n{row.scenario}: {rows} outbox rows, {len(message_ids)} emails accepted,"
        f" {mailbox.abandoned} abandoned by their sender mid-way"
    )
    row.check()
