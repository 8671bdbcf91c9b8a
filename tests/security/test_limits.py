"""Limits on what one request may ask: depth, aliases, tokens, body size, page size,
subscriptions per connection, batches. Each refusal is a GraphQL error that names the limit,
and a 4xx where GraphQL over HTTP says so; one step under each limit is still served."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette

from milestones.config import Settings
from milestones.schema.limits import QueryLimits
from milestones.schema.root import build_schema
from tests.conftest import TEST_JWT_SECRET, migrated_database_url
from tests.subscriptions.wsclient import NOTIFICATIONS_SUBSCRIPTION, graphql_ws, served_ws_url

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
DEFAULTS = Settings(jwt_secret=TEST_JWT_SECRET)
MAX_SUBSCRIPTIONS = 3


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # The defaults, but for subscriptions per connection (kept small to test quickly).
    return Settings(
        database_url=migrated_database_url(tmp_path),
        broadcast_url="memory://",
        jwt_secret=TEST_JWT_SECRET,
        milestones_env="development",
        max_subscriptions_per_connection=MAX_SUBSCRIPTIONS,
    )


async def post(api: Any, actor: Any, query: str, **extra: Any) -> Any:
    return await api.http.post(
        "/graphql",
        json={"query": query, **extra},
        headers={"authorization": f"Bearer {actor.token}", "accept": GRAPHQL_RESPONSE_JSON},
    )


def refused_with(response: Any, fragment: str) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert "data" not in body, body
    assert [fragment in error["message"] for error in body["errors"]] == [True], body


def served(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert not body.get("errors"), body
    return body


def nested(depth: int) -> str:
    """A query `depth` deep (the root field is depth 0): contracts > edges > node > ..."""
    chain = ["contracts", "edges", "node"]
    while len(chain) < depth:
        chain += ["milestones", "contract"]
    chain = chain[:depth]
    return "{ " + " { ".join(chain) + " { id" + " }" * len(chain) + " }"


def test_the_defaults_are_the_documented_ones() -> None:
    assert DEFAULTS.max_query_depth == 10
    assert DEFAULTS.max_aliases == 15
    assert DEFAULTS.max_tokens == 2000
    assert DEFAULTS.max_body_bytes == 100 * 1024
    assert QueryLimits.from_settings(DEFAULTS) == QueryLimits()


async def test_query_depth_is_limited(api: Any, client: Any) -> None:
    served(await post(api, client, nested(DEFAULTS.max_query_depth)))
    refused_with(
        await post(api, client, nested(DEFAULTS.max_query_depth + 1)),
        "exceeds maximum operation depth of 10",
    )


async def test_fragments_do_not_hide_depth(api: Any, client: Any) -> None:
    inner = nested(DEFAULTS.max_query_depth + 1)[2:-2]  # the root selection, without braces
    document = "query { ...Deep }\nfragment Deep on Query { " + inner + " }"
    refused_with(await post(api, client, document), "exceeds maximum operation depth of 10")


async def test_aliases_are_limited(api: Any, client: Any) -> None:
    def aliased(count: int) -> str:
        return "{ " + " ".join(f"a{n}: me {{ id }}" for n in range(count)) + " }"

    served(await post(api, client, aliased(DEFAULTS.max_aliases)))
    refused_with(await post(api, client, aliased(DEFAULTS.max_aliases + 1)), "16 aliases found")


async def test_tokens_are_limited_comments_included(api: Any, client: Any) -> None:
    def with_tokens(count: int) -> str:
        return "{ me { id } }\n" + "#\n" * (count - 6)  # six tokens, then one per comment

    served(await post(api, client, with_tokens(DEFAULTS.max_tokens)))
    refused_with(
        await post(api, client, with_tokens(DEFAULTS.max_tokens + 1)),
        "Document contains more than 2000 tokens",
    )


def _padded(total: int) -> bytes:
    head, tail = b'{"query": "{ __typename }", "variables": {"pad": "', b'"}}'
    return head + b"x" * (total - len(head) - len(tail)) + tail


async def test_request_bodies_are_limited(api: Any) -> None:
    limit = DEFAULTS.max_body_bytes
    headers = {"content-type": "application/json"}
    ok = await api.http.post("/graphql", content=_padded(limit), headers=headers)
    assert ok.status_code == 200, ok.text
    too_large = await api.http.post("/graphql", content=_padded(limit + 1), headers=headers)
    assert too_large.status_code == 413
    assert "larger than 102400 bytes" in too_large.json()["errors"][0]["message"]


async def test_a_streamed_body_is_cut_off_at_the_limit(api: Any) -> None:
    sent = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal sent
        yield b'{"query": "{ __typename }", "variables": {"pad": "'
        for _ in range(1000):  # 8 MB if it were all read
            sent += 8192
            yield b"x" * 8192

    response = await api.http.post(
        "/graphql", content=endless(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert "content-length" not in response.request.headers


async def test_page_size_is_at_most_100(api: Any, client: Any) -> None:
    served(await post(api, client, "{ contracts(first: 100) { edges { cursor } } }"))
    response = await post(api, client, "{ contracts(first: 101) { edges { cursor } } }")
    body = response.json()
    assert body["errors"][0]["extensions"]["code"] == "VALIDATION", body
    assert "100" in body["errors"][0]["message"]


async def test_batches_are_refused(api: Any, client: Any) -> None:
    response = await api.http.post(
        "/graphql",
        json=[{"query": "{ me { id } }"}, {"query": "{ me { id } }"}],
        headers={"authorization": f"Bearer {client.token}"},
    )
    assert response.status_code == 400
    assert "Batches are not accepted" in response.json()["errors"][0]["message"]


async def test_limits_follow_the_settings() -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        max_query_depth=3,
        max_aliases=1,
        max_tokens=30,
    )
    schema = build_schema(limits=QueryLimits.from_settings(settings))
    deep = await schema.execute(nested(4))
    assert deep.errors and "exceeds maximum operation depth of 3" in deep.errors[0].message
    aliases = await schema.execute("{ a: __typename b: __typename }")
    assert aliases.errors and "2 aliases found. Allowed: 1" in aliases.errors[0].message
    tokens = await schema.execute("{ " + "__typename " * 30 + "}")
    assert tokens.errors and "more than 30 tokens" in tokens.errors[0].message


@pytest.fixture
async def ws_url(app: Starlette) -> AsyncIterator[str]:
    async with served_ws_url(app) as url:
        yield url


async def test_subscriptions_per_connection_are_limited(ws_url: str, client: Any) -> None:
    async with graphql_ws(ws_url) as ws:
        await ws.init(client.token)
        for number in range(MAX_SUBSCRIPTIONS):
            await ws.subscribe(str(number), NOTIFICATIONS_SUBSCRIPTION)
        await ws.subscribe("one-too-many", NOTIFICATIONS_SUBSCRIPTION)
        message = await ws.receive()
        assert message["type"] == "error" and message["id"] == "one-too-many", message
        assert "Subscription limit reached" in message["payload"][0]["message"]
