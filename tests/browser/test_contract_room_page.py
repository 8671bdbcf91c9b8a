"""The contract-room page at /app in a real chromium, against a real server process.

The client and the freelancer each have the page open; the other side acts through the API
(or the page) and the page follows without a reload, over the `notifications` subscription.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, expect
from prometheus_client.parser import text_string_to_metric_families

from tests.browser.conftest import GraphQLUser, ServerProcess

LIVE_TIMEOUT_MS = 10_000
RECONNECT_TIMEOUT_MS = 25_000

CREATE_CONTRACT = """
mutation CreateContract($input: CreateContractInput!) {
  createContract(input: $input) { contract { id } userErrors { code message field } }
}"""
ACCEPT_CONTRACT = """
mutation AcceptContract($input: AcceptContractInput!) {
  acceptContract(input: $input) { contract { id status } userErrors { code message field } }
}"""
ADD_MILESTONE = """
mutation AddMilestone($input: AddMilestoneInput!) {
  addMilestone(input: $input) { milestone { id } userErrors { code message field } }
}"""
ACTIVATE_MILESTONE = """
mutation ActivateMilestone($input: ActivateMilestoneInput!) {
  activateMilestone(input: $input) { milestone { id } userErrors { code message field } }
}"""
SUBMIT_MILESTONE = """
mutation SubmitMilestone($input: SubmitMilestoneInput!) {
  submitMilestone(input: $input) { milestone { id } userErrors { code message field } }
}"""
REQUEST_CHANGES = """
mutation RequestMilestoneChanges($input: RequestMilestoneChangesInput!) {
  requestMilestoneChanges(input: $input) {
    changeRequest { id } userErrors { code message field }
  }
}"""
WITHDRAW_CHANGE_REQUEST = """
mutation WithdrawChangeRequest($input: WithdrawChangeRequestInput!) {
  withdrawChangeRequest(input: $input) { changeRequest { id } userErrors { code message field } }
}"""


def offer_contract(client: GraphQLUser, party: dict[str, str]) -> str:
    """The client's offer to `party` (`freelancerId` or `freelancerEmail`): its id."""
    contract_id: str = client.gql(
        CREATE_CONTRACT, {"input": {"title": "Website redesign", **party}}
    )["createContract"]["contract"]["id"]
    return contract_id


def add_milestones(client: GraphQLUser, contract_id: str) -> list[str]:
    return [
        client.gql(
            ADD_MILESTONE,
            {
                "input": {
                    "contractId": contract_id,
                    "title": title,
                    "description": description,
                    "amount": amount,
                }
            },
        )["addMilestone"]["milestone"]["id"]
        for title, description, amount in (
            ("Wireframes", "Low-fidelity wireframes for every page", "1500.00"),
            ("Visual design", "Final designs for desktop and mobile", "2500.00"),
        )
    ]


def start_contract(client: GraphQLUser, freelancer: GraphQLUser) -> tuple[str, str]:
    """A contract (offered, accepted) with its first milestone funded: (contract id, active
    milestone id)."""
    freelancer_id = freelancer.gql("query { me { id } }")["me"]["id"]
    contract_id = offer_contract(client, {"freelancerId": freelancer_id})
    freelancer.gql(ACCEPT_CONTRACT, {"input": {"contractId": contract_id}})
    # The client has seen the acceptance: the pages start with nothing unread.
    client.gql("mutation { markNotificationsRead(input: {all: true}) { count } }")
    milestone_ids = add_milestones(client, contract_id)
    client.gql(ACTIVATE_MILESTONE, {"input": {"milestoneId": milestone_ids[0]}})
    return contract_id, milestone_ids[0]


def request_change(freelancer: GraphQLUser, contract_id: str, title: str, amount: str) -> str:
    data = freelancer.gql(
        REQUEST_CHANGES,
        {
            "input": {
                "contractId": contract_id,
                "message": f"Could we add “{title}”?",
                "changes": [{"kind": "ADD", "title": title, "amount": amount}],
            }
        },
    )
    change_request_id: str = data["requestMilestoneChanges"]["changeRequest"]["id"]
    return change_request_id


def open_room(browser: Browser, server: ServerProcess, user: GraphQLUser) -> Page:
    """A fresh browser profile signs in by pasting the user's token."""
    context = browser.new_context(viewport={"width": 1360, "height": 1000})
    page = context.new_page()
    page.goto(f"{server.url}/app/")
    page.get_by_test_id("token-input").fill(user.token)
    page.get_by_test_id("sign-in-button").click()
    expect(page.get_by_test_id("room-title")).to_have_text("Website redesign")
    expect(page.get_by_test_id("connection-status")).to_have_attribute(
        "data-status", "live", timeout=LIVE_TIMEOUT_MS
    )
    # Survives only if the page is never reloaded.
    page.evaluate("window.__sameDocument = true")
    return page


def assert_not_reloaded(page: Page) -> None:
    assert page.evaluate("window.__sameDocument") is True, "the page was reloaded"


def scrape(server: ServerProcess) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    import httpx

    text = httpx.get(f"{server.url}/metrics", timeout=5.0).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_change_request_reaches_the_client_live_and_the_acceptance_reaches_the_freelancer(
    browser: Browser, server: Callable[..., ServerProcess], artifacts: Path
) -> None:
    api = server()
    client = GraphQLUser(api.url, "room-client", "Cleo Client")
    freelancer = GraphQLUser(api.url, "room-freelancer", "Fred Freelancer")
    contract_id, _ = start_contract(client, freelancer)
    client_page = open_room(browser, api, client)
    freelancer_page = open_room(browser, api, freelancer)
    expect(client_page.get_by_test_id("milestone-row")).to_have_count(2)
    expect(client_page.get_by_test_id("unread-count")).to_be_hidden()

    # The freelancer asks for a change through the API ...
    request_change(freelancer, contract_id, "Launch support", "750.00")

    # ... and the client's page shows it without a reload: toast, unread count, pending request.
    expect(client_page.get_by_test_id("toast").first).to_contain_text(
        "requested changes", timeout=LIVE_TIMEOUT_MS
    )
    expect(client_page.get_by_test_id("unread-count")).to_have_text("1")
    pending = client_page.get_by_test_id("pending-change-request")
    expect(pending).to_contain_text("Launch support")
    expect(pending).to_contain_text("750.00")
    expect(client_page.get_by_test_id("accept-change-request")).to_be_visible()
    assert_not_reloaded(client_page)
    screenshot = artifacts / "contract-room-client.png"
    client_page.screenshot(path=str(screenshot), full_page=True)
    print(f"\nscreenshot: {screenshot}")

    # The client accepts in the page; the freelancer's page shows the acceptance.
    client_page.get_by_test_id("response-message").fill("Good idea, thanks!")
    client_page.get_by_test_id("accept-change-request").click()
    expect(client_page.get_by_test_id("latest-change-request")).to_contain_text("ACCEPTED")

    latest = freelancer_page.get_by_test_id("latest-change-request")
    expect(latest.get_by_test_id("change-request-status")).to_have_text(
        "ACCEPTED", timeout=LIVE_TIMEOUT_MS
    )
    expect(latest).to_contain_text("Good idea, thanks!")
    expect(freelancer_page.get_by_test_id("toast").first).to_contain_text(
        "accepted your change request"
    )
    expect(freelancer_page.get_by_test_id("milestone-row")).to_have_count(3)
    expect(freelancer_page.get_by_test_id("milestones")).to_contain_text("Launch support")
    assert_not_reloaded(freelancer_page)
    screenshot = artifacts / "contract-room-freelancer.png"
    freelancer_page.screenshot(path=str(screenshot), full_page=True)
    print(f"screenshot: {screenshot}")

    # The server's own numbers saw the two pages and what went through them.
    metrics = scrape(api)
    assert metrics[("milestones_open_websockets", ())] >= 2
    assert metrics[("milestones_active_subscriptions", (("subscription", "notifications"),))] >= 2
    assert metrics[("milestones_notification_delivery_lag_seconds_count", ())] >= 2
    accepted = (
        "milestones_graphql_operations_total",
        (("operation", "RespondToChangeRequest"), ("outcome", "ok"), ("type", "mutation")),
    )
    assert metrics[accepted] == 1


def test_page_resumes_by_cursor_after_the_server_restarts(
    browser: Browser, server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    api = server()
    client = GraphQLUser(api.url, "room-client", "Cleo Client")
    freelancer = GraphQLUser(api.url, "room-freelancer", "Fred Freelancer")
    contract_id, active_milestone_id = start_contract(client, freelancer)
    page = open_room(browser, api, client)
    subscribes: list[dict[str, Any]] = []

    def record(frame: str | bytes) -> None:
        message = json.loads(frame)
        if message.get("type") == "subscribe":
            subscribes.append(message["payload"])

    page.on("websocket", lambda socket: socket.on("framesent", record))
    first_request = request_change(freelancer, contract_id, "Launch support", "750.00")
    expect(page.get_by_test_id("unread-count")).to_have_text("1", timeout=LIVE_TIMEOUT_MS)
    cursor_before_drop = page.evaluate("window.milestonesRoom.lastCursor")
    assert cursor_before_drop

    # The server dies: the page's WebSocket drops and it starts retrying.
    api.kill()
    expect(page.get_by_test_id("connection-status")).to_have_attribute(
        "data-status", "reconnecting", timeout=LIVE_TIMEOUT_MS
    )

    # Meanwhile, on another instance, the freelancer does three things the client must see.
    other = server(api.database_file)
    freelancer_elsewhere = GraphQLUser(other.url, freelancer.sub, freelancer.name)
    freelancer_elsewhere.gql(WITHDRAW_CHANGE_REQUEST, {"input": {"changeRequestId": first_request}})
    request_change(freelancer_elsewhere, contract_id, "Extra QA round", "300.00")
    freelancer_elsewhere.gql(SUBMIT_MILESTONE, {"input": {"milestoneId": active_milestone_id}})
    other.stop()

    # The page's own server comes back on the same address; the page reconnects by itself.
    api.start()
    expect(page.get_by_test_id("connection-status")).to_have_attribute(
        "data-status", "live", timeout=RECONNECT_TIMEOUT_MS
    )
    expect(page.get_by_test_id("unread-count")).to_have_text("4", timeout=LIVE_TIMEOUT_MS)
    page.get_by_test_id("bell").click()
    items = page.get_by_test_id("notification")
    expect(items).to_have_count(5)  # the four, and the acceptance of the offer (read before)
    texts = items.all_inner_texts()
    assert sum("accepted your offer" in text for text in texts) == 1, texts
    assert sum("withdrew the change request" in text for text in texts) == 1, texts
    assert sum("requested changes" in text for text in texts) == 2, texts
    assert sum("submitted work on “Wireframes”" in text for text in texts) == 1, texts
    expect(page.get_by_test_id("pending-change-request")).to_contain_text("Extra QA round")
    expect(page.get_by_test_id("milestones")).to_contain_text("SUBMITTED")
    assert_not_reloaded(page)

    # It resumed by cursor: the resubscription asked for what came after the last one it had.
    assert subscribes, "the page did not resubscribe"
    assert subscribes[-1]["variables"] == {"after": cursor_before_drop}
    assert re.search(r"subscription\s+LiveNotifications", subscribes[-1]["query"])


def test_an_offer_by_email_is_accepted_in_the_page_and_the_client_sees_it_live(
    browser: Browser, server: Callable[..., ServerProcess], artifacts: Path
) -> None:
    api = server()
    client = GraphQLUser(api.url, "offer-client", "Cleo Client")
    # Nina has never signed in: the offer names her by the email her token will carry.
    nina = GraphQLUser(api.url, "offer-nina", "Nina Newcomer")
    contract_id = offer_contract(client, {"freelancerEmail": "Offer-Nina@Example.com"})
    milestone_ids = add_milestones(client, contract_id)
    client_page = open_room(browser, api, client)
    expect(client_page.get_by_test_id("room-status")).to_have_text("OFFERED")
    expect(client_page.get_by_test_id("offer")).to_contain_text("offer-nina@example.com")

    # Her first sign-in is in the page: the offer is there, with Accept and Decline.
    nina_page = open_room(browser, api, nina)
    offers = nina_page.get_by_test_id("incoming-offer")
    expect(offers).to_have_count(1)
    expect(offers.first).to_contain_text("Website redesign")
    expect(nina_page.get_by_test_id("decline-offer")).to_be_visible()
    expect(nina_page.get_by_test_id("room-status")).to_have_text("OFFERED")
    expect(nina_page.get_by_test_id("unread-count")).to_have_text("1")
    nina_page.locator("#offer-message").fill("Happy to start on Monday")
    nina_page.get_by_test_id("room-accept-offer").click()
    expect(nina_page.get_by_test_id("room-status")).to_have_text("ACTIVE")
    expect(nina_page.get_by_test_id("incoming-offers")).to_be_hidden()
    assert_not_reloaded(nina_page)
    screenshot = artifacts / "contract-room-offer-accepted.png"
    nina_page.screenshot(path=str(screenshot), full_page=True)
    print(f"\nscreenshot: {screenshot}")

    # The client's page follows live: the toast, the status, and who the freelancer is now.
    expect(client_page.get_by_test_id("toast").first).to_contain_text(
        "accepted your offer", timeout=LIVE_TIMEOUT_MS
    )
    expect(client_page.get_by_test_id("room-status")).to_have_text("ACTIVE")
    expect(client_page.get_by_test_id("room-header")).to_contain_text("Nina Newcomer")
    assert_not_reloaded(client_page)
    # And work can start: the client funds the first milestone.
    client.gql(ACTIVATE_MILESTONE, {"input": {"milestoneId": milestone_ids[0]}})


def test_freelancer_submits_a_file_from_the_page_and_the_client_downloads_it(
    browser: Browser, server: Callable[..., ServerProcess], artifacts: Path
) -> None:
    api = server()
    client = GraphQLUser(api.url, "files-client", "Cleo Client")
    freelancer = GraphQLUser(api.url, "files-freelancer", "Fred Freelancer")
    start_contract(client, freelancer)
    client_page = open_room(browser, api, client)
    freelancer_page = open_room(browser, api, freelancer)
    wireframes = b"%PDF-1.4\n" + bytes(range(256)) * 40  # binary, survives as is

    form = freelancer_page.get_by_test_id("submit-form")
    form.get_by_test_id("submit-message").fill("Wireframes attached.")
    form.get_by_test_id("submit-files").set_input_files(
        [{"name": "wireframes v1.pdf", "mimeType": "application/pdf", "buffer": wireframes}]
    )
    expect(freelancer_page.get_by_test_id("submit-chosen")).to_contain_text("wireframes v1.pdf")
    freelancer_page.get_by_test_id("submit-work").click()

    # Both pages list the submission with its file; the client's without a reload.
    for page in (freelancer_page, client_page):
        submission = page.get_by_test_id("submission")
        expect(submission).to_have_count(1, timeout=LIVE_TIMEOUT_MS)
        expect(submission.get_by_test_id("submission-outcome")).to_have_text("PENDING")
        expect(submission.get_by_test_id("submission-message")).to_have_text("Wireframes attached.")
        expect(submission.get_by_test_id("attachment-link")).to_have_text("wireframes v1.pdf")
    expect(client_page.get_by_test_id("milestones")).to_contain_text("SUBMITTED")
    assert_not_reloaded(client_page)

    # The link fetches the file with the client's token and saves it under its name.
    with client_page.expect_download() as download_info:
        client_page.get_by_test_id("attachment-link").click()
    download = download_info.value
    assert download.suggested_filename == "wireframes v1.pdf"
    assert Path(download.path()).read_bytes() == wireframes
    screenshot = artifacts / "contract-room-submission.png"
    client_page.screenshot(path=str(screenshot), full_page=True)
    print(f"\nscreenshot: {screenshot}")
