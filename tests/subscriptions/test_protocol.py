"""graphql-transport-ws on /graphql: authentication, the protocol's close codes, and access.

`milestones/live/transport.py` subclasses strawberry's private
`strawberry.subscriptions.protocols.graphql_transport_ws.handlers.BaseGraphQLTransportWSHandler`
(pyproject pins the strawberry minor these tests ran on). What it relies on, and the tests that
break when a strawberry upgrade moves it:
- overridden hooks `handle_connection_init`, `handle_subscribe`, `cleanup_operation`,
  `send_message`, `shutdown` (their signatures: `test_the_overridden_hooks_keep_their_signatures`);
- `handle_invalid_message` (`test_subscribe_with_a_payload_that_is_not_an_object_closes_with_4400`);
- `connection_acknowledged` (the 4401 and 4429 tests), `connection_init_timeout_task` (4408),
  `context.connection_params` (the 4403 tests), `operations` (4409 and
  `test_a_completed_subscription_frees_its_id`), `max_subscriptions_per_connection`
  (tests/security/test_limits.py), `view.encode_json` and the Starlette adapter's `websocket.ws`
  (every frame: `test_ping_is_answered_with_pong`, `test_a_query_over_the_socket_...`);
- `graphql_transport_ws.types` message TypedDicts (typing only);
- from the view, for the socket entry (`MilestonesGraphQL.serve_websocket`, in place of the
  view's `run`): `_check_websocket_origin`, `reject_websocket`, `pick_websocket_subprotocol`,
  `websocket_adapter_class` and the handler's keyword arguments
  (tests/subscriptions/test_socket_entry.py, and every socket test).
"""

from __future__ import annotations

import inspect

import pytest
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)

from milestones.live.transport import SharedSubscriptionsHandler
from tests.helpers import Actor, create_contract, make_token
from tests.subscriptions.conftest import CONNECTION_INIT_TIMEOUT_SECONDS
from tests.subscriptions.wsclient import (
    NOTIFICATIONS_SUBSCRIPTION,
    graphql_ws,
    subscribed_client,
)


async def test_missing_token_closes_with_4403(server_url: str) -> None:
    async with graphql_ws(server_url) as ws:
        await ws.init(None, expect_ack=False)
        assert await ws.closed_with() == 4403


async def test_bad_token_closes_with_4403(server_url: str) -> None:
    async with graphql_ws(server_url) as ws:
        await ws.init("not-a-jwt", expect_ack=False)
        assert await ws.closed_with() == 4403


async def test_token_signed_with_another_secret_closes_with_4403(server_url: str) -> None:
    forged = make_token("another-secret-of-sufficient-length-0123456789", sub="client")
    async with graphql_ws(server_url) as ws:
        await ws.init(forged, expect_ack=False)
        assert await ws.closed_with() == 4403


async def test_subscribe_before_ack_closes_with_4401(server_url: str) -> None:
    async with graphql_ws(server_url) as ws:
        await ws.subscribe("1", NOTIFICATIONS_SUBSCRIPTION)
        assert await ws.closed_with() == 4401


async def test_duplicate_operation_id_closes_with_4409(server_url: str, client: Actor) -> None:
    async with subscribed_client(server_url, client.token) as ws:
        await ws.subscribe_notifications("same")
        await ws.subscribe_notifications("same")
        assert await ws.closed_with() == 4409


async def test_second_connection_init_closes_with_4429(server_url: str, client: Actor) -> None:
    async with subscribed_client(server_url, client.token) as ws:
        await ws.init(client.token, expect_ack=False)
        assert await ws.closed_with() == 4429


async def test_no_connection_init_within_the_timeout_closes_with_4408(server_url: str) -> None:
    async with graphql_ws(server_url) as ws:
        assert await ws.closed_with(CONNECTION_INIT_TIMEOUT_SECONDS + 3) == 4408


async def test_malformed_message_closes_with_4400(server_url: str, client: Actor) -> None:
    async with subscribed_client(server_url, client.token) as ws:
        await ws.send("{this is not json")
        assert await ws.closed_with() == 4400


async def test_message_of_unknown_type_closes_with_4400(server_url: str, client: Actor) -> None:
    async with subscribed_client(server_url, client.token) as ws:
        await ws.send({"type": "subscribe-please", "id": "1"})
        assert await ws.closed_with() == 4400


async def test_ping_is_answered_with_pong(server_url: str, client: Actor) -> None:
    async with subscribed_client(server_url, client.token) as ws:
        await ws.send({"type": "ping"})
        assert (await ws.receive())["type"] == "pong"


async def test_outsider_gets_an_error_for_contract_events_never_an_event(
    server_url: str, client: Actor, freelancer: Actor, outsider: Actor
) -> None:
    contract = await create_contract(client, freelancer)
    await outsider.user_id()
    async with subscribed_client(server_url, outsider.token) as ws:
        await ws.subscribe_events("events", contract["id"])
        message = await ws.receive()
        assert message["type"] == "error", message
        assert message["id"] == "events"
        assert [error["extensions"]["code"] for error in message["payload"]] == ["NOT_FOUND"]
        # The socket stays usable, and the contract's activity never reaches the outsider.
        await ws.subscribe_notifications("mine")
        await client.gql(
            "mutation ($id: ID!) { endContract(input: {contractId: $id}) { userErrors { code } } }",
            {"id": contract["id"]},
        )
        await ws.expect_silence(0.5)


async def test_unknown_contract_is_not_found_for_contract_events(
    server_url: str, client: Actor
) -> None:
    async with subscribed_client(server_url, client.token) as ws:
        await ws.subscribe_events("events", "Q29udHJhY3Q6OTk5OTk=")  # Contract:99999
        message = await ws.receive()
        assert message["type"] == "error", message
        assert message["payload"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_a_party_can_subscribe_to_contract_events(
    server_url: str, client: Actor, freelancer: Actor
) -> None:
    contract = await create_contract(client, freelancer)
    async with subscribed_client(server_url, freelancer.token) as ws:
        await ws.subscribe_events("events", contract["id"])
        await ws.expect_silence(0.2)  # nothing before the subscription: no `after`
        await client.gql(
            "mutation ($id: ID!) { endContract(input: {contractId: $id}) { userErrors { code } } }",
            {"id": contract["id"]},
        )
        (event,) = await ws.take("events", 1)
        assert event["kind"] == "CONTRACT_ENDED"


@pytest.mark.parametrize(
    "hook",
    [
        "handle_connection_init",
        "handle_subscribe",
        "cleanup_operation",
        "send_message",
        "shutdown",
        "handle_invalid_message",
    ],
)
def test_the_overridden_hooks_keep_their_signatures(hook: str) -> None:
    # A renamed or re-shaped private hook would silently stop being called: fail loudly instead.
    ours = getattr(SharedSubscriptionsHandler, hook)
    theirs = getattr(BaseGraphQLTransportWSHandler, hook)
    assert inspect.iscoroutinefunction(theirs)
    assert list(inspect.signature(ours).parameters) == list(inspect.signature(theirs).parameters)


async def test_subscribe_with_a_payload_that_is_not_an_object_closes_with_4400(
    server_url: str, client: Actor
) -> None:
    async with subscribed_client(server_url, client.token) as ws:
        await ws.send({"id": "1", "type": "subscribe", "payload": "subscription { x }"})
        assert await ws.closed_with() == 4400


async def test_a_completed_subscription_frees_its_id(server_url: str, client: Actor) -> None:
    async with subscribed_client(server_url, client.token) as ws:
        await ws.subscribe_notifications("again")
        await ws.send({"id": "again", "type": "complete"})
        await ws.expect_silence(0.2)
        # Still in the handler's `operations`, the id would close the socket with 4409.
        await ws.subscribe_notifications("again")
        await ws.send({"type": "ping"})
        assert (await ws.receive())["type"] == "pong"


async def test_a_query_over_the_socket_takes_strawberrys_own_path(
    server_url: str, client: Actor
) -> None:
    async with subscribed_client(server_url, client.token) as ws:
        await ws.subscribe("q", "query { me { id } }")
        message = await ws.receive()
        expected = {"data": {"me": {"id": await client.user_id()}}}
        assert message == {"id": "q", "type": "next", "payload": expected}
        assert (await ws.receive()) == {"id": "q", "type": "complete"}
