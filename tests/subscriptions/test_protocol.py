"""graphql-transport-ws on /graphql: authentication, the protocol's close codes, and access."""

from __future__ import annotations

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
