"""Identity: bearer JWTs, UNAUTHENTICATED, and users created or updated from the claims."""

from __future__ import annotations

from typing import Any

import jwt
import pytest

from tests.helpers import (
    CONTRACTS_QUERY,
    ME_QUERY,
    MUTATIONS,
    Actor,
    ApiClient,
    create_contract,
    graphql_error_codes,
    jwt_secret,
    make_token,
    read_contract,
)

GRAPHQL_PATH = "/graphql"


async def post_with_header(
    api: ApiClient, authorization: str | None, query: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = await api.http.post(
        GRAPHQL_PATH, json={"query": query, "variables": variables or {}}, headers=headers
    )
    body: dict[str, Any] = response.json()
    return body


def assert_unauthenticated(body: dict[str, Any]) -> None:
    assert "UNAUTHENTICATED" in graphql_error_codes(body), body
    data = body.get("data")
    assert not data or all(value is None for value in data.values()), body


def bad_tokens(secret: str) -> dict[str, str]:
    return {
        "bad signature": make_token("not-the-secret-at-all-but-long-enough", sub="mallory"),
        "expired": make_token(secret, sub="mallory", expires_in=-120),
        "no sub": make_token(secret, name="Nobody"),
        "unsigned": jwt.encode({"sub": "mallory"}, None, algorithm="none"),
        "garbage": "not-a-jwt",
    }


async def test_query_without_token_is_unauthenticated(anonymous: Actor) -> None:
    assert_unauthenticated(await anonymous.post(ME_QUERY))
    assert_unauthenticated(await anonymous.post(CONTRACTS_QUERY))


async def test_mutation_without_token_is_unauthenticated(
    anonymous: Actor, client: Actor, freelancer: Actor
) -> None:
    body = await anonymous.post(
        MUTATIONS["createContract"],
        {"input": {"title": "Sneaky", "freelancerId": await freelancer.user_id()}},
    )
    assert_unauthenticated(body)
    assert_unauthenticated(
        await anonymous.post(MUTATIONS["markNotificationsRead"], {"input": {"all": True}})
    )
    assert (await freelancer.gql(CONTRACTS_QUERY))["contracts"]["edges"] == []


@pytest.mark.parametrize("kind", ["bad signature", "expired", "no sub", "unsigned", "garbage"])
async def test_bad_token_is_unauthenticated_for_queries_and_mutations(
    api: ApiClient, client: Actor, freelancer: Actor, kind: str
) -> None:
    token = bad_tokens(jwt_secret(api.settings))[kind]
    contract = await create_contract(client, freelancer)

    assert_unauthenticated(await post_with_header(api, f"Bearer {token}", ME_QUERY))
    body = await post_with_header(
        api,
        f"Bearer {token}",
        MUTATIONS["endContract"],
        {"input": {"contractId": contract["id"]}},
    )
    assert_unauthenticated(body)
    still = await read_contract(client, contract["id"])
    assert still is not None and still["status"] == "ACTIVE"


@pytest.mark.parametrize("authorization", ["", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz"])
async def test_malformed_authorization_header_is_unauthenticated(
    api: ApiClient, authorization: str
) -> None:
    assert_unauthenticated(await post_with_header(api, authorization, ME_QUERY))


async def test_a_valid_token_made_with_the_secret_is_accepted(api: ApiClient) -> None:
    token = make_token(jwt_secret(api.settings), sub="carol", name="Carol")
    body = await post_with_header(api, f"Bearer {token}", ME_QUERY)
    assert not body.get("errors"), body
    assert body["data"]["me"]["name"] == "Carol"


async def test_user_is_created_on_first_sight_and_updated_from_claims(api: ApiClient) -> None:
    first = api.actor("dana", name="Dana", email="dana@example.com")
    me = (await first.gql(ME_QUERY))["me"]
    assert (me["name"], me["email"]) == ("Dana", "dana@example.com")

    renamed = api.actor("dana", name="Dana Scully", email="scully@example.com")
    again = (await renamed.gql(ME_QUERY))["me"]

    assert again["id"] == me["id"]
    assert (again["name"], again["email"]) == ("Dana Scully", "scully@example.com")


async def test_updated_name_is_what_the_other_party_sees(api: ApiClient, client: Actor) -> None:
    worker = api.actor("erin", name="Erin")
    contract = await create_contract(client, worker)
    await api.actor("erin", name="Erin Hart").user_id()

    data = await client.gql(
        "query($id: ID!) { contract(id: $id) { freelancer { id name } } }",
        {"id": contract["id"]},
    )

    assert data["contract"]["freelancer"]["name"] == "Erin Hart"
