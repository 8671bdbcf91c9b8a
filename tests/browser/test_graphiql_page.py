"""GraphiQL in a real chromium with no internet access: the page renders from the app's own
assets (any request to another host is refused and would fail the test), runs a query with
the Headers tab's token, shows the schema's descriptions in its documentation explorer, and
runs a subscription that carries that token in `connection_init`."""

from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import quote, urlsplit

from playwright.sync_api import Browser, Route, expect

from tests.browser.conftest import GraphQLUser, ServerProcess
from tests.browser.test_contract_room_page import LIVE_TIMEOUT_MS, start_contract

ME_QUERY = "query Me { me { name } }"


def test_graphiql_renders_offline_and_runs_queries_and_subscriptions_with_the_token(
    browser: Browser, server: Callable[..., ServerProcess]
) -> None:
    api = server()
    client = GraphQLUser(api.url, "graphiql-client", "Cleo Client")
    freelancer = GraphQLUser(api.url, "graphiql-freelancer", "Fred Freelancer")
    start_contract(client, freelancer)

    context = browser.new_context(viewport={"width": 1360, "height": 900})
    elsewhere: list[str] = []

    def only_this_server(route: Route) -> None:
        url = route.request.url
        if urlsplit(url).netloc == urlsplit(api.url).netloc or url.startswith("data:"):
            route.continue_()
        else:
            elsewhere.append(url)
            route.abort()

    context.route("**/*", only_this_server)
    page = context.new_page()
    headers = json.dumps({"Authorization": f"Bearer {client.token}"})
    page.goto(f"{api.url}/graphql?q={quote(ME_QUERY)}&headers={quote(headers)}")

    # Rendered: the query editor, the execute button and the documentation explorer's button.
    expect(page.locator(".graphiql-query-editor .CodeMirror")).to_be_visible()
    expect(page.get_by_text("Loading...")).to_have_count(0)
    page.locator(".graphiql-execute-button").click()
    expect(page.locator(".graphiql-response")).to_contain_text("Cleo Client")

    # The documentation explorer reads the schema's descriptions.
    page.get_by_role("button", name="Show Documentation Explorer").click()
    page.locator(".graphiql-doc-explorer").get_by_text("Query", exact=True).click()
    expect(page.locator(".graphiql-doc-explorer")).to_contain_text("What the viewer may read")

    # A subscription over graphql-transport-ws with the Headers tab's token. It resumes after
    # the freelancer's oldest notification, so what it shows does not depend on timing:
    # GraphiQL shows the latest payload, which ends as the newest notification.
    notifications = freelancer.gql("{ notifications(first: 20) { edges { cursor } } }")[
        "notifications"
    ]["edges"]
    assert len(notifications) >= 2, notifications
    newest, oldest = notifications[0]["cursor"], notifications[-1]["cursor"]
    subscription = f'subscription Live {{ notifications(after: "{oldest}") {{ cursor kind }} }}'
    freelancer_headers = json.dumps({"Authorization": f"Bearer {freelancer.token}"})
    page.goto(f"{api.url}/graphql?q={quote(subscription)}&headers={quote(freelancer_headers)}")
    expect(page.locator(".graphiql-query-editor .CodeMirror")).to_be_visible()
    page.locator(".graphiql-execute-button").click()
    expect(page.locator(".graphiql-response")).to_contain_text(newest, timeout=LIVE_TIMEOUT_MS)
    assert elsewhere == [], f"GraphiQL asked other hosts for {elsewhere}"
    context.close()
