"""Fuzzing the running app in production mode: generated GraphQL operations (hypothesis-graphql,
valid ones and ones with one schema violation) sent with valid tokens of a client, a freelancer
and an outsider (and with none), and raw garbage bodies. The answer is never a 5xx, and never an
unmasked error: every error is either a request error (the document or the body was refused
before anything ran) or carries one of the codes the API documents. An INTERNAL_SERVER_ERROR
(a bug, masked) fails the run too.

The generated IDs are real ones of a seeded contract (milestones, requests, events, users), so
operations reach the domain rather than stopping at NOT_FOUND. `MILESTONES_FUZZ_EXAMPLES` sizes
the run (default: 200 operations and 120 raw bodies).
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, nodes
from hypothesis_graphql import strategies as gql

from milestones.auth import issue_token
from milestones.config import Settings
from milestones.schema.root import export_sdl
from tests.conftest import (
    Actor,
    is_postgres_url,
    postgres_unavailable,
    require_service,
    test_database_url,
)
from tests.databases import migrated_sqlite_url
from tests.helpers import create_contract_with_milestones, pending_change_request
from tests.security.test_production_mode import PRODUCTION_SECRET

EXAMPLES = int(os.environ.get("MILESTONES_FUZZ_EXAMPLES", "200"))
DOCUMENTED_CODES = {"UNAUTHENTICATED", "VALIDATION", "NOT_FOUND", "BAD_REQUEST"}
SCHEMA = export_sdl()


@dataclass
class Target:
    http: httpx.AsyncClient
    tokens: list[str | None]
    ids: list[str]


@asynccontextmanager
async def running_app() -> AsyncIterator[Target]:
    """The app in production mode with a seeded contract; its real IDs for the fuzzer."""
    url = test_database_url()
    with tempfile.TemporaryDirectory(prefix="milestones-fuzz-") as folder:
        if is_postgres_url(url):
            require_service(postgres_unavailable(url))
        else:  # a copy of the migrated template (tests/databases.py)
            url = migrated_sqlite_url(Path(folder) / "fuzz.sqlite3")
        async with _served(url) as target:
            yield target


@asynccontextmanager
async def _served(url: str) -> AsyncIterator[Target]:
    from milestones.app import create_app

    app = create_app(
        Settings(
            database_url=url,
            broadcast_url="memory://",
            jwt_secret=PRODUCTION_SECRET,
            milestones_env="production",
        )
    )
    async with app.router.lifespan_context(app):
        if is_postgres_url(url):
            from milestones.database import reset_tables

            await reset_tables()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://fuzz") as http:
            actors = [Actor(http, sub, issue_token(PRODUCTION_SECRET, sub)) for sub in "cfo"]
            tokens = [actor.token for actor in actors]
            yield Target(http, [*tokens, None], await _seed(*actors))


async def _seed(client: Actor, freelancer: Actor, outsider: Actor) -> list[str]:
    room = await create_contract_with_milestones(client, freelancer, ["100.00", "250.50", "7"])
    await room.activate(0)
    change_request = await pending_change_request(room)
    refund = await room.request_refund(0)
    read = await room.read()
    ids = [
        room.contract_id,
        *room.milestone_ids,
        change_request,
        refund["refundRequest"]["id"],
        read["client"]["id"],
        read["freelancer"]["id"],
        await outsider.user_id(),
    ]
    ids += [edge["node"]["id"] for edge in read["events"]["edges"]]
    ids += [edge["cursor"] for edge in read["events"]["edges"]]
    return ids


def check_answer(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text
    body = response.json()
    assert isinstance(body, dict) and (body.get("errors") or "data" in body), body
    for error in body.get("errors") or []:
        code = (error.get("extensions") or {}).get("code")
        if code is None:
            # graphql-core's own refusals (parse, validation, variables): nothing ran.
            assert ("path" not in error and "data" not in body) or body["data"] is None, body
            assert "path" not in error, f"an unmasked error: {error}"
        else:
            assert code in DOCUMENTED_CODES, f"{code}: {error}"


def operations(ids: list[str]) -> st.SearchStrategy[str]:
    id_values = st.one_of(st.sampled_from(ids), st.text(max_size=30)).map(nodes.String)
    money = st.one_of(
        st.decimals(allow_nan=False, allow_infinity=False, places=3).map(str).map(nodes.String),
        st.integers(min_value=-(10**12), max_value=10**12).map(nodes.Int),
        st.floats(allow_nan=False, allow_infinity=False).map(nodes.Float),
        st.text(max_size=20).map(nodes.String),
    )
    dates = st.one_of(st.dates().map(nodes.String), st.text(max_size=12).map(nodes.String))
    scalars = {"ID": id_values, "Decimal": money, "Date": dates}
    return st.one_of(
        gql.queries(SCHEMA, custom_scalars=scalars),
        gql.mutations(SCHEMA, custom_scalars=scalars),
        gql.queries(SCHEMA, custom_scalars=scalars, mode=Mode.NEGATIVE),
        gql.mutations(SCHEMA, custom_scalars=scalars, mode=Mode.NEGATIVE),
    )


def test_fuzzed_operations_never_fail_or_leak() -> None:
    with asyncio.Runner() as runner:
        stack = running_app()
        target = runner.run(stack.__aenter__())
        try:

            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            @given(data=st.data())
            def fuzz(data: st.DataObject) -> None:
                query = data.draw(operations(target.ids), label="operation")
                token = data.draw(st.sampled_from(target.tokens), label="token")
                headers = {"authorization": f"Bearer {token}"} if token else {}
                response = runner.run(
                    target.http.post("/graphql", json={"query": query}, headers=headers)
                )
                check_answer(response)

            fuzz()
        finally:
            runner.run(stack.__aexit__(None, None, None))


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
REQUEST_KEYS = st.sampled_from(["query", "variables", "operationName", "extensions", "x"])


def test_fuzzed_bodies_never_fail() -> None:
    with asyncio.Runner() as runner:
        stack = running_app()
        target = runner.run(stack.__aenter__())
        try:

            @settings(
                max_examples=max(EXAMPLES * 3 // 5, 10),
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            @given(
                body=st.one_of(
                    st.binary(max_size=300),
                    st.dictionaries(REQUEST_KEYS, JSON_VALUES, max_size=4).map(
                        lambda value: json.dumps(value).encode()
                    ),
                ),
                content_type=st.sampled_from(
                    ["application/json", "application/json; charset=utf-8", "text/plain", ""]
                ),
                accept=st.sampled_from(
                    ["", "*/*", "application/graphql-response+json", "text/html", "image/*;q=0"]
                ),
            )
            def fuzz(body: bytes, content_type: str, accept: str) -> None:
                headers = {"authorization": f"Bearer {target.tokens[0]}"}
                if content_type:
                    headers["content-type"] = content_type
                if accept:
                    headers["accept"] = accept
                response = runner.run(target.http.post("/graphql", content=body, headers=headers))
                check_answer(response)

            fuzz()
        finally:
            runner.run(stack.__aexit__(None, None, None))
