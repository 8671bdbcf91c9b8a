"""One dispute in the /app page, from opening to a mediator's decision, in a real chromium
against a real server process: the freelancer opens it in the page, the client (whose page
shows the review countdown and the dispute's deadline) sends it to mediation, a mediator
decides in the mediator view, and both parties' pages follow live."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from milestones.auth import issue_token
from tests.browser.conftest import GraphQLUser, ServerProcess
from tests.browser.test_contract_room_page import (
    LIVE_TIMEOUT_MS,
    SUBMIT_MILESTONE,
    open_room,
    start_contract,
)
from tests.conftest import TEST_JWT_SECRET

COUNTDOWN = r"\d+ d \d+ h left"


def open_mediation(browser: Browser, server: ServerProcess, token: str) -> Page:
    context = browser.new_context(viewport={"width": 1360, "height": 1000})
    page = context.new_page()
    page.goto(f"{server.url}/app/")
    page.get_by_test_id("token-input").fill(token)
    page.get_by_test_id("sign-in-button").click()
    expect(page.get_by_test_id("mediation")).to_be_visible()
    expect(page.get_by_test_id("connection-status")).to_have_attribute(
        "data-status", "live", timeout=LIVE_TIMEOUT_MS
    )
    return page


def test_a_dispute_from_opening_to_a_mediators_decision(
    browser: Browser, server: Callable[..., ServerProcess], artifacts: Path
) -> None:
    api = server()
    client = GraphQLUser(api.url, "room-client", "Cleo Client")
    freelancer = GraphQLUser(api.url, "room-freelancer", "Fred Freelancer")
    mediator_token = issue_token(
        TEST_JWT_SECRET, "room-mediator", name="Mia Mediator", roles=("mediator",)
    )
    _, milestone_id = start_contract(client, freelancer)
    freelancer.gql(SUBMIT_MILESTONE, {"input": {"milestoneId": milestone_id}})

    client_page = open_room(browser, api, client)
    freelancer_page = open_room(browser, api, freelancer)
    mediator_page = open_mediation(browser, api, mediator_token)
    expect(mediator_page.get_by_test_id("mediation-item")).to_have_count(0)

    # The submitted milestone shows the client's review deadline, counting down (14 days).
    review = client_page.get_by_test_id("review-countdown")
    expect(review).to_contain_text("Review by")
    expect(review).to_have_text(re.compile(COUNTDOWN))
    expect(freelancer_page.get_by_test_id("review-countdown")).to_contain_text("Client reviews by")

    # The freelancer opens a dispute on the withheld payment, in the page.
    freelancer_page.get_by_test_id("dispute-message").fill("Delivered as agreed, no answer.")
    freelancer_page.get_by_test_id("open-dispute").click()
    card = freelancer_page.get_by_test_id("open-dispute-card")
    expect(card.get_by_test_id("dispute-status")).to_have_text("AWAITING_CLIENT")
    expect(card).to_contain_text("1,500.00")

    # The client's page shows it live, with its deadline (5 days), and sends it to mediation.
    client_card = client_page.get_by_test_id("open-dispute-card")
    expect(client_card).to_contain_text("Delivered as agreed", timeout=LIVE_TIMEOUT_MS)
    expect(client_card.get_by_test_id("dispute-deadline")).to_have_text(
        re.compile(r"The client answers by .* · 4 d 23 h left")
    )
    client_page.get_by_test_id("dispute-response").fill("Not what we agreed.")
    client_page.get_by_test_id("reject-dispute").click()
    expect(client_card.get_by_test_id("dispute-status")).to_have_text("IN_MEDIATION")
    expect(card.get_by_test_id("dispute-status")).to_have_text(
        "IN_MEDIATION", timeout=LIVE_TIMEOUT_MS
    )

    # The mediator is told, sees it in the list, and decides 1,000.00 to the freelancer.
    item = mediator_page.get_by_test_id("mediation-item")
    expect(item).to_have_count(1, timeout=LIVE_TIMEOUT_MS)
    expect(item).to_contain_text("Website redesign")
    expect(item).to_contain_text("Not what we agreed.")
    screenshot = artifacts / "mediation.png"
    mediator_page.screenshot(path=str(screenshot), full_page=True)
    print(f"\nscreenshot: {screenshot}")
    item.get_by_test_id("release-amount").fill("1000.00")
    item.get_by_test_id("resolution-message").fill("Two thirds delivered.")
    item.get_by_test_id("resolve-dispute").click()
    expect(mediator_page.get_by_test_id("mediation-item")).to_have_count(1)
    decided = mediator_page.get_by_test_id("decided-list")
    expect(decided.get_by_test_id("resolution")).to_contain_text(
        "1,000.00 USD to the freelancer, 500.00 USD back to the client"
    )
    expect(mediator_page.get_by_test_id("mediation-list")).to_contain_text("Nothing waiting")

    # Both parties' pages follow: the dispute is gone, the money moved.
    for page in (client_page, freelancer_page):
        expect(page.get_by_test_id("open-dispute-card")).to_have_count(0, timeout=LIVE_TIMEOUT_MS)
        expect(page.get_by_test_id("timeline")).to_contain_text("Dispute resolved")
        expect(page.get_by_test_id("escrow-held")).to_have_text("0.00")
    screenshot = artifacts / "dispute-resolved-client.png"
    client_page.screenshot(path=str(screenshot), full_page=True)
    print(f"screenshot: {screenshot}")
