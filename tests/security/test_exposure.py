"""Safe to expose (issue 10) and codes for every refusal (issue 17), in production mode: the
app under test, over HTTP and over a real WebSocket (uvicorn in the test's loop).

What needs a separate process (memory read from /proc, frame limits, expiry on the clock,
readiness with the broker down) is in `test_exposed_server.py`.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from graphql.language import lexer
from starlette.applications import Starlette
from tortoise.exceptions import DBConnectionError, OperationalError

from milestones.auth import TokenVerifier
from milestones.config import Settings
from milestones.live import streams
from milestones.live import transport as transport_module
from milestones.models import Contract
from milestones.schema.documents import Documents
from milestones.schema.limits import QueryLimits
from milestones.schema.types import Notification
from tests.conftest import TEST_JWT_SECRET, Actor
from tests.helpers import create_contract_with_milestones, make_token
from tests.subscriptions.sseclient import event_stream
from tests.subscriptions.wsclient import GraphQLWS, graphql_ws, served_ws_url

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
LIMITS = QueryLimits()
RETRY_SECONDS = 0.6
NOTIFICATIONS = "subscription { notifications { id kind } }"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "milestones_env": "production",
            "max_subscriptions_per_connection": 3,
            "subscription_retry_seconds": RETRY_SECONDS,
        }
    )


@pytest.fixture
async def ws_url(app: Starlette) -> AsyncIterator[str]:
    async with served_ws_url(app) as url:
        yield url


async def post(api: Any, actor: Actor | None, query: str, **extra: Any) -> Any:
    headers = {"accept": GRAPHQL_RESPONSE_JSON}
    if actor is not None:
        headers["authorization"] = f"Bearer {actor.token}"
    return await api.http.post("/graphql", json={"query": query, **extra}, headers=headers)


def codes(body: dict[str, Any]) -> list[str | None]:
    return [error.get("extensions", {}).get("code") for error in body.get("errors", [])]


def many_tokens(count: int) -> str:
    return "{ " + "a " * (count - 2) + "}"


def nested(depth: int) -> str:
    chain = ["contracts", "edges", "node"]
    while len(chain) < depth:
        chain += ["milestones", "contract"]
    chain = chain[:depth]
    return "{ " + " { ".join(chain) + " { id" + " }" * len(chain) + " }"


def aliased(count: int) -> str:
    return "{ " + " ".join(f"a{n}: me {{ id }}" for n in range(count)) + " }"


async def error_of(ws: GraphQLWS, operation_id: str) -> dict[str, Any]:
    message = await ws.receive()
    assert message["type"] == "error" and message["id"] == operation_id, message
    error: dict[str, Any] = message["payload"][0]
    return error


# --- one gate for every document ----------------------------------------------------------


async def test_a_49000_token_document_is_refused_having_read_only_the_limit(
    api: Any, client: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    read = 0
    original = lexer.Lexer.read_next_token

    def counting(self: lexer.Lexer, start: int) -> Any:
        nonlocal read
        read += 1
        return original(self, start)

    monkeypatch.setattr(lexer.Lexer, "read_next_token", counting)
    response = await post(api, client, many_tokens(49_000))
    assert response.status_code == 400, response.text
    assert codes(response.json()) == ["TOO_MANY_TOKENS"]
    # One pass through the gate per request, and it stops at the limit.
    assert read <= LIMITS.max_tokens + 2, read


async def test_nothing_is_parsed_into_a_cache_for_an_anonymous_caller(
    api: Any, app: Starlette, client: Actor
) -> None:
    schema_documents: Documents = app.state.room_cache.documents
    for number in range(30):
        # A contract(id:) query (what the room cache plans for) and a plain one, each distinct.
        room = f'query R{number} {{ contract(id: "x{"y" * 1000}{number}") {{ id }} }}'
        await post(api, None, room)
        await post(api, None, f"query Q{number} {{ me {{ id }} }}")
    assert schema_documents.cached_bytes == 0
    assert len(app.state.room_cache._plans) == 0
    await post(api, client, "query Mine { me { id } }")
    assert schema_documents.cached_bytes > 0  # a signed-in caller's document is kept


def test_the_document_cache_holds_at_most_its_byte_budget() -> None:
    documents = Documents(LIMITS, cache_bytes=1024 * 1024)
    for number in range(200):
        documents.parse("{ " + f"f{number} " * 1500 + "}", cache=True)
        documents.keep_validation(f"{number}" * 1000, [])
    assert documents.cached_bytes <= 1024 * 1024 + 1024 * 1024 // 10


async def test_the_room_cache_holds_at_most_its_byte_budget(app: Starlette) -> None:
    room_cache = app.state.room_cache
    budget = 256 * 1024
    room_cache._entries.budget = budget
    start = {"status": 200, "headers": [(b"content-type", b"application/json")]}
    for number in range(8):  # eight rooms of 100 KB each
        body = b'{"data":{"contract":"' + b"x" * 100_000 + b'"}}'
        room_cache._keep(bytes([number]) * 20, (number,), start, body)
    assert room_cache._entries.size <= budget
    assert len(room_cache._entries) == 2


def test_the_verified_token_cache_holds_at_most_its_byte_budget() -> None:
    verifier = TokenVerifier(TEST_JWT_SECRET, cache_bytes=64 * 1024)
    for number in range(300):
        verifier.verify(make_token(TEST_JWT_SECRET, sub=f"user-{number}", name="x" * 500))
    assert verifier._verified.size <= 64 * 1024


# --- tokens ---------------------------------------------------------------------------------


async def test_a_token_without_exp_is_refused_in_production(api: Any, ws_url: str) -> None:
    import jwt

    token = jwt.encode({"sub": "cleo"}, TEST_JWT_SECRET, algorithm="HS256")
    response = await api.http.post(
        "/graphql", json={"query": "{ me { id } }"}, headers={"authorization": f"Bearer {token}"}
    )
    assert codes(response.json()) == ["UNAUTHENTICATED"], response.text
    async with graphql_ws(ws_url) as ws:
        await ws.init(token, expect_ack=False)
        assert await ws.closed_with() == 4403


async def test_an_operation_after_the_token_expired_is_never_run(
    ws_url: str, client: Actor, freelancer: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    await freelancer.user_id()
    before = await Contract.all().count()
    async with graphql_ws(ws_url) as ws:
        await ws.init(client.token)
        later = time.time() + 7200  # the token (an hour) has expired; the timer not yet fired
        monkeypatch.setattr(transport_module.time, "time", lambda: later)
        create = (
            "mutation ($input: CreateContractInput!) "
            "{ createContract(input: $input) { contract { id } } }"
        )
        await ws.subscribe(
            "late",
            create,
            input={"title": "Late", "freelancerId": await freelancer.user_id()},
        )
        assert await ws.closed_with() == 4403
    assert await Contract.all().count() == before


# --- subscriptions: errors masked, database failures retried ------------------------------


async def test_a_transient_database_failure_inside_a_stream_is_retried_unseen(
    ws_url: str, client: Actor, freelancer: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    failures = 2
    original = streams.Feed.after

    async def flaky(self: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal failures
        if failures:
            failures -= 1
            raise OperationalError("server closed the connection unexpectedly")
        return await original(self, *args, **kwargs)

    async with graphql_ws(ws_url) as ws:
        await ws.init(freelancer.token)
        monkeypatch.setattr(streams.Feed, "after", flaky)
        await ws.subscribe("n", NOTIFICATIONS)
        await create_contract_with_milestones(client, freelancer)
        (notification,) = await ws.take("n", 1)
        assert notification["kind"] and failures == 0


async def test_an_outage_longer_than_the_retries_ends_the_stream_with_a_coded_error(
    ws_url: str, freelancer: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def down(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise DBConnectionError("could not connect to 10.1.2.3:5432 as secret_user")

    async with graphql_ws(ws_url) as ws:
        await ws.init(freelancer.token)
        monkeypatch.setattr(streams.Feed, "after", down)
        await ws.subscribe("n", NOTIFICATIONS)
        error = await error_of(ws, "n")  # an `error`, never `next` with internals or `complete`
        assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE", error
        assert "10.1.2.3" not in str(error) and "secret_user" not in str(error)
        await ws.expect_silence()


async def test_an_internal_error_in_a_stream_is_masked_with_a_request_id(
    ws_url: str, client: Actor, freelancer: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(cls: Any, row: Any) -> Any:
        raise RuntimeError("relation notifications_secret does not exist")

    async with graphql_ws(ws_url) as ws:
        await ws.init(freelancer.token)
        monkeypatch.setattr(Notification, "of", classmethod(broken))
        await ws.subscribe("n", NOTIFICATIONS)
        await create_contract_with_milestones(client, freelancer)
        message = await ws.receive()
        assert "notifications_secret" not in str(message), message
        errors = message["payload"]["errors"] if message["type"] == "next" else message["payload"]
        assert errors[0]["message"] == "Unexpected error.", message
        assert errors[0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
        assert errors[0]["extensions"]["requestId"]


# --- no bare 500s ----------------------------------------------------------------------------


async def test_a_database_failure_while_identifying_the_caller_is_a_json_503(
    api: Any, client: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def down(verified: Any) -> Any:
        raise DBConnectionError("could not connect to 10.1.2.3:5432")

    monkeypatch.setattr("milestones.web.graphql_view.user_for", down)
    response = await post(api, client, "{ me { id } }")
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-request-id"]
    body = response.json()
    assert codes(body) == ["SERVICE_UNAVAILABLE"]
    assert body["errors"][0]["extensions"]["requestId"] == response.headers["x-request-id"]
    assert "10.1.2.3" not in response.text


async def test_a_database_failure_at_connection_init_closes_for_a_retry(
    ws_url: str, client: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def down(verified: Any) -> Any:
        raise DBConnectionError("could not connect to 10.1.2.3:5432")

    monkeypatch.setattr("milestones.web.graphql_view.user_for", down)
    async with graphql_ws(ws_url) as ws:
        await ws.init(client.token, expect_ack=False)
        assert await ws.closed_with() == 1011  # try again; 4403 would mean "bad token"


async def test_any_failure_in_the_request_path_is_a_json_500(
    api: Any, client: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(verified: Any) -> Any:
        raise RuntimeError("internal detail")

    monkeypatch.setattr("milestones.web.graphql_view.user_for", broken)
    response = await post(api, client, "{ me { id } }")
    assert response.status_code == 500
    assert codes(response.json()) == ["INTERNAL_SERVER_ERROR"]
    assert response.headers["x-request-id"] and "internal detail" not in response.text


async def test_claims_holding_a_nul_are_answered_not_crashed_on(api: Any) -> None:
    secret = TEST_JWT_SECRET
    named = make_token(secret, sub="nul-name", name="Cl\x00eo", email="a\x00@x.y")
    response = await api.http.post(
        "/graphql",
        json={"query": "{ me { name email } }"},
        headers={"authorization": f"Bearer {named}"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"]["me"] == {"name": None, "email": None}
    bad_sub = make_token(secret, sub="nul\x00sub")
    response = await api.http.post(
        "/graphql", json={"query": "{ me { id } }"}, headers={"authorization": f"Bearer {bad_sub}"}
    )
    assert codes(response.json()) == ["UNAUTHENTICATED"], response.text


# --- one error policy, one set of codes, every transport -----------------------------------


async def test_no_suggestions_over_websocket_in_production(ws_url: str, client: Actor) -> None:
    async with graphql_ws(ws_url) as ws:
        await ws.init(client.token)
        await ws.subscribe("typo", "{ mee { id } }")
        error = await error_of(ws, "typo")
        assert "Cannot query field 'mee'" in error["message"]
        assert "Did you mean" not in error["message"], error


async def test_every_limit_refusal_has_its_code_over_http(api: Any, client: Actor) -> None:
    for document, code in (
        (nested(LIMITS.max_depth + 1), "QUERY_TOO_DEEP"),
        (aliased(LIMITS.max_aliases + 1), "TOO_MANY_ALIASES"),
        (many_tokens(LIMITS.max_tokens + 1), "TOO_MANY_TOKENS"),
    ):
        response = await post(api, client, document)
        assert response.status_code == 400 and codes(response.json()) == [code], response.text
    too_large = await api.http.post(
        "/graphql",
        content=b'{"query": "' + b" " * 200_000 + b'{ me { id } }"}',
        headers={"content-type": "application/json", "authorization": f"Bearer {client.token}"},
    )
    assert too_large.status_code == 413 and codes(too_large.json()) == ["BODY_TOO_LARGE"]


async def test_every_limit_refusal_has_its_code_over_websocket(ws_url: str, client: Actor) -> None:
    async with graphql_ws(ws_url) as ws:
        await ws.init(client.token)
        for number, (document, code) in enumerate(
            (
                (nested(LIMITS.max_depth + 1), "QUERY_TOO_DEEP"),
                (aliased(LIMITS.max_aliases + 1), "TOO_MANY_ALIASES"),
                (many_tokens(LIMITS.max_tokens + 1), "TOO_MANY_TOKENS"),
            )
        ):
            await ws.subscribe(str(number), document)
            assert (await error_of(ws, str(number)))["extensions"]["code"] == code
        for number in range(3):
            await ws.subscribe(f"s{number}", NOTIFICATIONS)
        await ws.subscribe("one-too-many", NOTIFICATIONS)
        error = await error_of(ws, "one-too-many")
        assert error["extensions"]["code"] == "TOO_MANY_SUBSCRIPTIONS", error


# --- GraphQL over SSE: the same gate, verifier and codes -----------------------------------


def _sse_base(ws_url: str) -> str:
    return ws_url.replace("ws://", "http://").removesuffix("/graphql")


async def test_every_limit_refusal_has_its_code_over_sse(
    ws_url: str, client: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    read = 0
    original = lexer.Lexer.read_next_token

    def counting(self: lexer.Lexer, start: int) -> Any:
        nonlocal read
        read += 1
        return original(self, start)

    monkeypatch.setattr(lexer.Lexer, "read_next_token", counting)
    for document, code in (
        (nested(LIMITS.max_depth + 1), "QUERY_TOO_DEEP"),
        (aliased(LIMITS.max_aliases + 1), "TOO_MANY_ALIASES"),
        (many_tokens(49_000), "TOO_MANY_TOKENS"),
        ("subscription { " + "a " * 49_000 + "}", "TOO_MANY_TOKENS"),
    ):
        read = 0
        async with event_stream(_sse_base(ws_url), document, token=client.token) as sse:
            assert sse.response.status_code == 200
            (refused,) = await sse.results(1)
            complete = await sse.next()
        # In the stream, as graphql-sse says, with the limit's code; then `complete`.
        assert codes(refused.json()) == [code], refused
        assert complete is not None and complete.event == "complete"
        if code == "TOO_MANY_TOKENS":  # the one gate: the lexer stops at the limit
            assert read <= LIMITS.max_tokens + 2, read


async def test_a_token_without_exp_is_refused_over_sse_in_production(ws_url: str) -> None:
    import jwt

    token = jwt.encode({"sub": "cleo"}, TEST_JWT_SECRET, algorithm="HS256")
    async with event_stream(_sse_base(ws_url), NOTIFICATIONS, token=token) as sse:
        assert sse.response.status_code == 401
        await sse.response.aread()
        assert codes(sse.response.json()) == ["UNAUTHENTICATED"]
        assert "exp" in sse.response.json()["errors"][0]["message"]


async def test_an_sse_document_passes_the_gate_once(
    app: Starlette, ws_url: str, client: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    parses: list[str] = []
    original = Documents.parse

    def counting(self: Documents, query: str, *, cache: bool) -> Any:
        parses.append(query)
        return original(self, query, cache=cache)

    monkeypatch.setattr(Documents, "parse", counting)
    query = "query Once { me { id } }"
    async with event_stream(_sse_base(ws_url), query, token=client.token) as sse:
        (answer,) = await sse.results(1)
    assert answer.json()["data"]["me"]["id"]
    assert parses == [query]


async def test_no_suggestions_over_sse_in_production(ws_url: str, client: Actor) -> None:
    async with event_stream(_sse_base(ws_url), "{ mee { id } }", token=client.token) as sse:
        (refused,) = await sse.results(1)
    message = refused.json()["errors"][0]["message"]
    assert "Cannot query field 'mee'" in message
    assert "Did you mean" not in message, message
