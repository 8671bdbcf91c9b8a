"""The link in a notification email opens the room at what it is about: a real server process
sends the email to an SMTP catcher (aiosmtpd), and chromium opens the link from it."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from playwright.sync_api import Browser, expect

from tests.browser.conftest import GraphQLUser, ServerProcess, free_port
from tests.browser.test_contract_room_page import request_change, start_contract

EMAIL_TIMEOUT_SECONDS = 60.0
# Generous: the suite runs beside others on a loaded machine.
PAGE_TIMEOUT_MS = 20_000


class Catcher:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append((list(envelope.rcpt_tos), message))
        return "250 OK"

    def wait_for(self, address: str, subject_part: str) -> EmailMessage:
        deadline = time.monotonic() + EMAIL_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            for recipients, message in list(self.messages):
                if recipients == [address] and subject_part in str(message["Subject"]):
                    return message
            time.sleep(0.1)
        raise AssertionError(f"no email to {address} about {subject_part!r}")


@pytest.fixture
def smtp() -> Iterator[tuple[Catcher, int]]:
    catcher, port = Catcher(), free_port()
    controller = Controller(catcher, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield catcher, port
    finally:
        controller.stop()


def test_the_change_request_link_in_an_email_opens_the_request_with_accept_and_decline(
    browser: Browser,
    server: Callable[..., ServerProcess],
    smtp: tuple[Catcher, int],
) -> None:
    catcher, port = smtp
    api = server(
        env={
            "SMTP_URL": f"smtp://127.0.0.1:{port}",
            "SMTP_RETRY_SECONDS": "0.2",
            "EMAIL_COALESCE_WINDOW": "0s",
        }
    )
    client = GraphQLUser(api.url, "mail-client", "Cleo Client")
    freelancer = GraphQLUser(api.url, "mail-freelancer", "Fred Freelancer")
    contract_id, _ = start_contract(client, freelancer)
    change_request_id = request_change(freelancer, contract_id, "Launch support", "750.00")

    email = catcher.wait_for("mail-client@example.com", "requested changes")
    text = email.get_body(("plain",))
    assert text is not None
    links = re.findall(r"https?://\S+/app/#\S+", text.get_content())
    assert len(links) == 1, links
    (link,) = links
    # PUBLIC_URL is unset: links point at the address `milestones serve` listens on.
    assert link.startswith(f"{api.url}/app/#contract=")
    assert "&changeRequest=" in link

    # A fresh browser (not signed in) opens the link, signs in, and lands on the request.
    page = browser.new_context(viewport={"width": 1360, "height": 1000}).new_page()
    page.goto(link)
    page.get_by_test_id("token-input").fill(client.token)
    page.get_by_test_id("sign-in-button").click()
    expect(page.get_by_test_id("room-title")).to_have_text(
        "Website redesign", timeout=PAGE_TIMEOUT_MS
    )
    pending = page.get_by_test_id("pending-change-request")
    expect(pending).to_contain_text("Launch support", timeout=PAGE_TIMEOUT_MS)
    expect(pending).to_contain_text("Could we add “Launch support”?")
    expect(pending).to_have_class(re.compile(r"\bfocused\b"))
    expect(page.get_by_test_id("accept-change-request")).to_be_visible()
    expect(page.get_by_test_id("decline-change-request")).to_be_visible()
    assert page.evaluate("location.hash").endswith(
        "changeRequest=" + page.evaluate(f"encodeURIComponent({change_request_id!r})")
    )

    # And acts on it from there.
    page.get_by_test_id("accept-change-request").click()
    expect(page.get_by_test_id("latest-change-request")).to_contain_text(
        "ACCEPTED", timeout=PAGE_TIMEOUT_MS
    )
    expect(page.get_by_test_id("milestones")).to_contain_text("Launch support")
