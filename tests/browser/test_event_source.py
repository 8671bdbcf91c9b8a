"""A browser's own EventSource on /graphql (GraphQL over SSE) in a real chromium: the server
goes away and comes back, the EventSource reconnects by itself with Last-Event-ID, and the
page has every notification exactly once.

A page's EventSource cannot set headers; here the browser context adds the Authorization
header to every request (as a gateway or a service worker would in production).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from playwright.sync_api import Browser

from milestones import ids
from tests.browser.conftest import GraphQLUser, ServerProcess
from tests.browser.test_contract_room_page import ADD_MILESTONE, start_contract

WAIT_MS = 30_000
NOTIFICATIONS = (
    "subscription Live($after: String) { notifications(after: $after) { kind message } }"
)

OPEN_EVENT_SOURCE = """
(url) => {
  window.received = [];
  window.opened = 0;
  const source = new EventSource(url);
  source.addEventListener("next", (event) => {
    window.received.push({ id: event.lastEventId, result: JSON.parse(event.data) });
  });
  source.onopen = () => { window.opened += 1; };
  window.source = source;
}
"""


def _add(client: GraphQLUser, contract_id: str, title: str) -> None:
    client.gql(
        ADD_MILESTONE,
        {"input": {"contractId": contract_id, "title": title, "amount": "10.00"}},
    )


def _count_notifications(user: GraphQLUser) -> int:
    data = user.gql("query { notifications(first: 100) { edges { cursor } } }")
    return len(data["notifications"]["edges"])


def test_event_source_reconnects_after_a_restart_and_misses_nothing(
    browser: Browser, server: Callable[..., ServerProcess]
) -> None:
    process = server()
    client = GraphQLUser(process.url, "es-client", "Cleo Client")
    freelancer = GraphQLUser(process.url, "es-freelancer", "Fred Freelancer")
    contract_id, _ = start_contract(client, freelancer)
    context = browser.new_context(
        extra_http_headers={"Authorization": f"Bearer {freelancer.token}"}
    )
    try:
        page = context.new_page()
        page.goto(f"{process.url}/healthz")
        query = urlencode(
            {
                "query": NOTIFICATIONS,
                "variables": json.dumps({"after": ids.encode_cursor("notification", 0)}),
            }
        )
        page.evaluate(OPEN_EVENT_SOURCE, f"/graphql?{query}")
        history = _count_notifications(freelancer)
        page.wait_for_function(f"window.received.length === {history}", timeout=WAIT_MS)
        _add(client, contract_id, "Live before the drop")
        page.wait_for_function(f"window.received.length === {history + 1}", timeout=WAIT_MS)

        process.kill()  # the connection drops without a goodbye
        process.start()  # same port, same database
        _add(client, contract_id, "While the browser was away")
        _add(client, contract_id, "Also while away")
        page.wait_for_function("window.opened >= 2", timeout=WAIT_MS)
        page.wait_for_function(f"window.received.length >= {history + 3}", timeout=WAIT_MS)
        _add(client, contract_id, "Live after the return")
        total = history + 4
        page.wait_for_function(f"window.received.length >= {total}", timeout=WAIT_MS)
        page.wait_for_timeout(300)  # anything extra (a duplicate) would arrive now
        received: list[dict[str, Any]] = page.evaluate("window.received")
        page.evaluate("window.source.close()")
    finally:
        context.close()

    assert len(received) == total == _count_notifications(freelancer)
    sequence = [ids.decode_cursor(item["id"], "notification") for item in received]
    assert sequence == list(range(1, total + 1))  # each once, in order, none missing
    messages = [item["result"]["data"]["notifications"]["message"] for item in received]
    assert sum("Live before the drop" in message for message in messages) == 1
    assert sum("Also while away" in message for message in messages) == 1
    assert sum("Live after the return" in message for message in messages) == 1
