"""Emails a person can act on, caught by a real SMTP server (aiosmtpd): a text and an HTML
part, Date, Message-ID, a one-click List-Unsubscribe link that works (and cannot be forged),
the link to act, the note; and the recipient's notification settings, which stop emails only.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import re
from collections.abc import AsyncIterator
from email.message import EmailMessage, Message
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from starlette.applications import Starlette

from milestones.config import Settings
from milestones.email_outbox import EmailOutboxSender
from milestones.models import EmailOutbox
from tests.conftest import TEST_JWT_SECRET, ApiClient, migrated_database_url
from tests.helpers import (
    Actor,
    create_contract_with_milestones,
    mutate,
    notification_nodes,
    ok,
)
from tests.subscriptions.conftest import test_broadcast_url
from tests.subscriptions.servers import free_port
from tests.subscriptions.test_email_outbox import SmtpServer, until

PUBLIC_URL = "https://rooms.example.com"
SETTINGS = "query { me { notificationSettings { emailEnabled mutedEmailKinds } } }"


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture
def settings(tmp_path: Path, smtp_port: int) -> Settings:
    return Settings(
        database_url=migrated_database_url(tmp_path),
        broadcast_url=test_broadcast_url(),
        jwt_secret=TEST_JWT_SECRET,
        smtp_url=f"smtp://127.0.0.1:{smtp_port}",
        smtp_sender="milestones@example.com",
        smtp_retry_seconds=0.2,
        email_coalesce_window=dt.timedelta(0),
        public_url=PUBLIC_URL,
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


async def all_sent() -> bool:
    return not await EmailOutbox.filter(sent_at__isnull=True, failed_at__isnull=True).exists()


async def emails_to(smtp: SmtpServer, address: str, count: int = 1) -> list[Message]:
    """The emails `address` got, once at least `count` arrived."""

    def received() -> list[Message]:
        return [
            message
            for recipients, message in zip(
                smtp.mailbox.recipients, smtp.mailbox.messages, strict=True
            )
            if recipients == [address]
        ]

    async def arrived() -> bool:
        return len(received()) >= count

    await until(arrived)
    return received()


def part(message: Message, subtype: str) -> str:
    assert isinstance(message, EmailMessage)
    body = message.get_body((subtype,))
    assert body is not None, f"no text/{subtype} part"
    content = body.get_content()
    assert isinstance(content, str)
    return content.replace("\r\n", "\n")  # lines end in CRLF on the wire


def unsubscribe_link(message: Message) -> str:
    header = str(message["List-Unsubscribe"])
    assert header.startswith("<") and header.endswith(">"), header
    return header[1:-1]


def path_of(url: str) -> str:
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == PUBLIC_URL
    return f"{parts.path}?{parts.query}"


async def one_click(api: ApiClient, url: str) -> int:
    """What a mail provider sends (RFC 8058): a POST with no token."""
    response = await api.http.post(
        path_of(url),
        content=b"List-Unsubscribe=One-Click",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    return response.status_code


async def test_a_change_request_email_is_multipart_with_headers_note_changes_and_link(
    app: Starlette, smtp: SmtpServer, client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    await until(all_sent)
    payload = await room.request_changes(
        [
            {"kind": "ADD", "title": "Launch support", "amount": "750", "dueDate": "2027-01-15"},
            {"kind": "EDIT", "milestoneId": room.milestone(0), "title": "M1 & more"},
        ],
        message="Could we add launch support?\nIt would help <b>a lot</b>.",
    )
    change_request_id = payload["changeRequest"]["id"]
    # Cleo's first email told her Fred accepted the offer; this one is the change request.
    accepted, message = await emails_to(smtp, "cleo@example.com", 2)
    assert "accepted your offer" in str(accepted["Subject"])

    assert message.get_content_type() == "multipart/alternative"
    assert isinstance(message, EmailMessage)
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    sent = email.utils.parsedate_to_datetime(str(message["Date"]))
    assert abs((dt.datetime.now(dt.UTC) - sent).total_seconds()) < 60
    (row,) = await EmailOutbox.filter(to_address="cleo@example.com").order_by("-id").limit(1)
    assert message["Message-ID"] == (
        f"<notification-{row.notification_id}.{row.id}@rooms.example.com>"
    )
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert re.fullmatch(
        rf"{PUBLIC_URL}/email/unsubscribe\?user=[^&]+&signature=[\w-]+",
        unsubscribe_link(message),
    )
    (notification, *_) = await notification_nodes(client)
    assert message["Subject"] == notification["message"]

    text, html = part(message, "plain"), part(message, "html")
    contract, request = quote(room.contract_id, safe=""), quote(change_request_id, safe="")
    link = f"{PUBLIC_URL}/app/#contract={contract}&changeRequest={request}"
    assert f"Review the change request: {link}\n" in text
    assert f'href="{link.replace("&", "&amp;")}"' in html
    assert notification["message"] in text
    assert "> Could we add launch support?\n> It would help <b>a lot</b>.\n" in text
    assert "It would help &lt;b&gt;a lot&lt;/b&gt;." in html
    assert "* Add “Launch support”: 750.00 USD, due 2027-01-15\n" in text
    assert "<li>Edit “M1”: title “M1 &amp; more”</li>" in html
    assert "* Edit “M1”: title “M1 & more”\n" in text


async def test_a_name_with_line_breaks_adds_no_header(
    app: Starlette, smtp: SmtpServer, api: ApiClient, client: Actor
) -> None:
    eve = api.actor(
        "eve",
        name="Eve\r\nBcc: victim@example.com\r\nX-Injected: yes",
        email="eve@example.com",
    )
    room = await create_contract_with_milestones(client, eve, ["100.00"])
    await until(all_sent)
    await room.request_changes([{"kind": "ADD", "title": "More", "amount": "5"}])
    (message,) = await emails_to(smtp, "cleo@example.com")
    assert message["Bcc"] is None and message["X-Injected"] is None
    assert "\n" not in str(message["Subject"]) and "\r" not in str(message["Subject"])
    assert [
        recipients for recipients in smtp.mailbox.recipients if "victim" in str(recipients)
    ] == []


async def test_one_click_unsubscribe_turns_email_off_and_a_forged_link_does_nothing(
    app: Starlette, smtp: SmtpServer, api: ApiClient, client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    (first, *_) = await emails_to(smtp, "fred@example.com")
    link = unsubscribe_link(first)
    query = parse_qs(urlsplit(link).query)
    cleo_id = await client.user_id()

    # A GET shows a page with a button and changes nothing (link scanners fetch links).
    page = await api.http.get(path_of(link))
    assert page.status_code == 200
    assert 'method="post"' in page.text and "One-Click" in page.text
    assert page.headers["referrer-policy"] == "no-referrer"
    # Forged: another signature, or Fred's signature on Cleo's id.
    forged = link[: -len(query["signature"][0])] + "A" * len(query["signature"][0])
    assert await one_click(api, forged) == 404
    stolen = link.replace(quote(query["user"][0], safe=""), quote(cleo_id, safe=""))
    assert stolen != link
    assert await one_click(api, stolen) == 404
    assert (await api.http.get(path_of(forged))).status_code == 404
    for actor in (client, freelancer):
        settings = (await actor.gql(SETTINGS))["me"]["notificationSettings"]
        assert settings == {"emailEnabled": True, "mutedEmailKinds": []}

    # The real link with the one-click body, and no token, turns Fred's emails off.
    no_body = await api.http.post(path_of(link))
    assert no_body.status_code == 400
    assert await one_click(api, link) == 200
    settings = (await freelancer.gql(SETTINGS))["me"]["notificationSettings"]
    assert settings == {"emailEnabled": False, "mutedEmailKinds": []}
    assert (await client.gql(SETTINGS))["me"]["notificationSettings"]["emailEnabled"] is True

    # Fred still gets his notifications, in-app; no email. Cleo still gets hers.
    await until(all_sent)
    before = len(await emails_to(smtp, "fred@example.com"))
    listed = len(await notification_nodes(freelancer))
    await room.activate(0)
    await room.submit(0)
    await emails_to(smtp, "cleo@example.com", 1)
    await until(all_sent)
    await asyncio.sleep(0.3)
    assert len(await notification_nodes(freelancer)) == listed + 1
    assert len(await emails_to(smtp, "fred@example.com")) == before


async def test_settings_mute_kinds_of_email_only(
    app: Starlette, smtp: SmtpServer, client: Actor, freelancer: Actor
) -> None:
    payload = await ok(
        client,
        "updateNotificationSettings",
        {
            "mutedEmailKinds": [
                "MILESTONE_SUBMITTED",
                "CHANGE_REQUEST_WITHDRAWN",
                "CONTRACT_ACCEPTED",
            ]
        },
    )
    assert payload["notificationSettings"] == {
        "emailEnabled": True,
        "mutedEmailKinds": ["CHANGE_REQUEST_WITHDRAWN", "CONTRACT_ACCEPTED", "MILESTONE_SUBMITTED"],
    }
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    await room.activate(0)
    await room.submit(0)  # muted for Cleo
    change = await room.request_changes([{"kind": "ADD", "title": "More", "amount": "5"}])
    await until(all_sent)
    await asyncio.sleep(0.3)
    subjects = [str(m["Subject"]) for m in await emails_to(smtp, "cleo@example.com")]
    assert len(subjects) == 1 and "requested changes" in subjects[0]
    kinds = [n["kind"] for n in await notification_nodes(client)]
    assert kinds == ["CHANGE_REQUEST_SUBMITTED", "MILESTONE_SUBMITTED", "CONTRACT_ACCEPTED"]

    # Unmuting one kind and omitting emailEnabled leaves it as it was.
    payload = await ok(client, "updateNotificationSettings", {"mutedEmailKinds": []})
    assert payload["notificationSettings"] == {"emailEnabled": True, "mutedEmailKinds": []}
    await ok(
        freelancer,
        "withdrawChangeRequest",
        {"changeRequestId": change["changeRequest"]["id"]},
    )
    assert len(await emails_to(smtp, "cleo@example.com", 2)) == 2


async def test_settings_changed_after_the_email_was_written_are_honoured_when_sent(
    app: Starlette, smtp: SmtpServer, settings: Settings, client: Actor, freelancer: Actor
) -> None:
    await until(all_sent)
    await app.state.emails.stop()  # nothing is sent until the sender below runs
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    await room.activate(0)
    await room.submit(0)
    # Cleo: Fred accepted the offer, Fred submitted; Fred: offered, added, activated.
    assert await EmailOutbox.filter(to_address="cleo@example.com", sent_at=None).count() == 2
    assert await EmailOutbox.filter(to_address="fred@example.com", sent_at=None).count() == 3
    await ok(client, "updateNotificationSettings", {"emailEnabled": False})
    await ok(freelancer, "updateNotificationSettings", {"mutedEmailKinds": ["MILESTONE_ADDED"]})

    # With a coalescing window, so that Fred's rows go out as one email.
    coalescing = settings.model_copy(update={"email_coalesce_window": dt.timedelta(minutes=2)})
    sender = EmailOutboxSender.from_settings(coalescing, app.state.bus)
    assert await sender.send_due() == 1  # Fred's two unmuted notifications, listed in one
    assert smtp.mailbox.recipients == [["fred@example.com"]]
    assert "2 new notifications" == smtp.mailbox.messages[0]["Subject"]
    assert await EmailOutbox.filter(sent_at=None).count() == 0  # the unwanted were dropped
    assert len(await notification_nodes(client)) == 2
    assert len(await notification_nodes(freelancer)) == 3


async def test_update_notification_settings_refuses_nulls_and_replays_by_key(
    app: Starlette, client: Actor
) -> None:
    refused = await mutate(client, "updateNotificationSettings", {"emailEnabled": None})
    assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [
        ("VALIDATION", "emailEnabled")
    ]
    refused = await mutate(client, "updateNotificationSettings", {"mutedEmailKinds": None})
    assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [
        ("VALIDATION", "mutedEmailKinds")
    ]
    assert (await client.gql(SETTINGS))["me"]["notificationSettings"]["emailEnabled"] is True
    first = await ok(
        client, "updateNotificationSettings", {"emailEnabled": False, "idempotencyKey": "k1"}
    )
    await ok(client, "updateNotificationSettings", {"emailEnabled": True})
    again = await ok(
        client, "updateNotificationSettings", {"emailEnabled": False, "idempotencyKey": "k1"}
    )
    assert again == first
    assert (await client.gql(SETTINGS))["me"]["notificationSettings"]["emailEnabled"] is True
    conflict = await mutate(
        client, "updateNotificationSettings", {"emailEnabled": True, "idempotencyKey": "k1"}
    )
    assert [e["code"] for e in conflict["userErrors"]] == ["IDEMPOTENCY_CONFLICT"]


async def test_nobody_reads_another_persons_notification_settings(
    app: Starlette, client: Actor, freelancer: Actor
) -> None:
    await create_contract_with_milestones(client, freelancer)
    data = await freelancer.gql(
        "query { contracts(first: 1) { edges { node { client { "
        "notificationSettings { emailEnabled } } } } } }"
    )
    assert data["contracts"]["edges"][0]["node"]["client"]["notificationSettings"] is None
