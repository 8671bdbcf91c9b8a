"""The token in `connection_init` as clients write it: `authorization`, `Authorization`, or
inside a `headers` object (graphql-ws's and Apollo's examples use each); a bad or missing one
still closes the socket with 4403."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.helpers import Actor
from tests.subscriptions.wsclient import graphql_ws

WHO_AM_I = "query WhoAmI { me { name } }"

PayloadOf = Callable[[str], dict[str, Any]]

WAYS_TO_SEND: dict[str, PayloadOf] = {
    "authorization": lambda value: {"authorization": value},
    "Authorization": lambda value: {"Authorization": value},
    "headers.Authorization": lambda value: {"headers": {"Authorization": value}},
    "headers.authorization": lambda value: {"headers": {"authorization": value}},
    "headers.AUTHORIZATION": lambda value: {"headers": {"AUTHORIZATION": value}},
}


@pytest.mark.parametrize("payload_of", WAYS_TO_SEND.values(), ids=WAYS_TO_SEND.keys())
async def test_each_way_of_sending_the_token_is_accepted(
    server_url: str, client: Actor, payload_of: PayloadOf
) -> None:
    async with graphql_ws(server_url) as ws:
        await ws.send({"type": "connection_init", "payload": payload_of(f"Bearer {client.token}")})
        assert (await ws.receive())["type"] == "connection_ack"
        await ws.subscribe("me", WHO_AM_I)
        assert await ws.next_payload("me") == {"me": {"name": "Cleo Client"}}


@pytest.mark.parametrize("payload_of", WAYS_TO_SEND.values(), ids=WAYS_TO_SEND.keys())
async def test_a_bad_token_closes_with_4403_whichever_way_it_comes(
    server_url: str, payload_of: PayloadOf
) -> None:
    async with graphql_ws(server_url) as ws:
        await ws.send({"type": "connection_init", "payload": payload_of("Bearer not-a-jwt")})
        assert await ws.closed_with() == 4403


@pytest.mark.parametrize(
    "payload",
    [
        {"headers": "Authorization: Bearer x"},
        {"headers": {"Authorization": ["Bearer x"]}},
        {"authorization": 42},
        {"token": "Bearer x"},
    ],
    ids=["headers-not-an-object", "value-not-a-string", "number", "unknown-key"],
)
async def test_a_token_anywhere_else_is_missing_and_closes_with_4403(
    server_url: str, client: Actor, payload: dict[str, Any]
) -> None:
    async with graphql_ws(server_url) as ws:
        await ws.send({"type": "connection_init", "payload": payload})
        assert await ws.closed_with() == 4403
