"""MILESTONES_ENV=production: no weak secret, no GraphiQL, no introspection, no field
suggestions, and unexpected errors masked (logged with the request id, answered without
internals). Errors the client is meant to read keep their message."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from milestones.app import create_app
from milestones.config import DEFAULT_JWT_SECRET, Settings
from milestones.resolvers import queries
from tests.conftest import migrated_database_url
from tests.security.servers import server_environment

PRODUCTION_SECRET = "p" * 16 + "r0duct10n-s3cret-f0r-tests-0nly-" + "q" * 16
SECRET_INTERNALS = "db password is hunter2 at /srv/milestones/secret.py"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        database_url=migrated_database_url(tmp_path),
        broadcast_url="memory://",
        jwt_secret=PRODUCTION_SECRET,
        milestones_env="production",
    )


@pytest.mark.parametrize(
    "secret", [DEFAULT_JWT_SECRET, "short-secret", "x" * 31], ids=["default", "short", "31 chars"]
)
def test_production_refuses_a_weak_secret(secret: str) -> None:
    with pytest.raises(ValueError, match="JWT_SECRET"):
        create_app(Settings(milestones_env="production", jwt_secret=secret))


def test_development_accepts_the_default_secret() -> None:
    create_app(Settings(milestones_env="development", jwt_secret=DEFAULT_JWT_SECRET))


def test_serve_will_not_start_in_production_with_the_default_secret() -> None:
    env = server_environment("sqlite://:memory:", MILESTONES_ENV="production")
    env["JWT_SECRET"] = DEFAULT_JWT_SECRET
    done = subprocess.run(
        [sys.executable, "-m", "milestones.cli", "serve", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "JWT_SECRET" in done.stderr


async def test_no_graphiql(api: Any) -> None:
    response = await api.http.get("/graphql", headers={"accept": "text/html"})
    assert 400 <= response.status_code < 500
    assert "<html" not in response.text.lower()


@pytest.mark.parametrize(
    "query",
    ["{ __schema { types { name } } }", '{ __type(name: "Contract") { name } }'],
    ids=["__schema", "__type"],
)
async def test_no_introspection(client: Any, query: str) -> None:
    body = await client.post(query)
    assert "data" not in body
    assert "introspection" in body["errors"][0]["message"].lower()


async def test_typename_still_works(client: Any) -> None:
    assert await client.gql("{ __typename }") == {"__typename": "Query"}


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        ("{ contrcts { edges { cursor } } }", None),
        ("{ me { nmae } }", None),
        ("{ contracts(statu: ACTIVE) { edges { cursor } } }", None),
        ("{ contracts(status: ACTIV) { edges { cursor } } }", None),
        (
            "mutation ($input: CreateContractInput!) { createContract(input: $input) "
            "{ contract { id } } }",
            {"input": {"titel": "x", "freelancerId": "y"}},
        ),
        (
            "query ($s: ContractStatus) { contracts(status: $s) { edges { cursor } } }",
            {"s": "ACTIV"},
        ),
    ],
    ids=["root field", "nested field", "argument", "enum literal", "input field", "enum variable"],
)
async def test_no_field_suggestions(
    client: Any, query: str, variables: dict[str, Any] | None
) -> None:
    body = await client.post(query, variables)
    messages = [error["message"] for error in body["errors"]]
    assert messages, body
    assert not any("Did you mean" in message for message in messages), messages


async def test_unexpected_errors_are_masked_and_logged_with_the_request_id(
    api: Any, client: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError(SECRET_INTERNALS)

    monkeypatch.setattr(queries, "contracts_page", broken)
    with caplog.at_level(logging.ERROR, logger="milestones.errors"):
        response = await api.http.post(
            "/graphql",
            json={"query": "{ contracts { edges { cursor } } }"},
            headers={"authorization": f"Bearer {client.token}"},
        )
    assert response.status_code == 200
    assert "hunter2" not in response.text
    assert "RuntimeError" not in response.text
    body = response.json()
    assert body["data"] is None  # `contracts` is non-null: its error nulls the whole result
    [error] = body["errors"]
    request_id = response.headers["x-request-id"]
    assert error["message"] == "Unexpected error."
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id}
    assert error["path"] == ["contracts"]
    [record] = caplog.records
    assert request_id in record.getMessage()
    # the traceback is in the message, with each exception's text clipped (never a client's
    # value whole)
    assert SECRET_INTERNALS in record.getMessage() and "RuntimeError" in record.getMessage()
    assert "in broken" in record.getMessage()


async def test_an_unexpected_error_never_logs_a_client_value_whole(
    api: Any, client: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    echoed = "v" * 90_000  # as a database driver may quote the value it refused

    async def broken(*args: object, **kwargs: object) -> object:
        try:
            raise ValueError(f"invalid input: {echoed}")
        except ValueError as error:
            raise RuntimeError(f"wrapped: {echoed}") from error

    monkeypatch.setattr(queries, "contracts_page", broken)
    with caplog.at_level(logging.ERROR, logger="milestones.errors"):
        await client.post("{ contracts { edges { cursor } } }")
    [record] = caplog.records
    logged = record.getMessage()
    assert "ValueError: invalid input: vvv" in logged and "RuntimeError: wrapped: vvv" in logged
    assert "v" * 1000 not in logged
    assert len(logged) < 5000
    assert record.exc_info is None


async def test_client_errors_keep_their_message(client: Any, anonymous: Any) -> None:
    body = await anonymous.post("{ me { id } }")
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert body["errors"][0]["message"] != "Unexpected error."
    body = await client.post("{ contracts(first: 1000) { edges { cursor } } }")
    assert body["errors"][0]["extensions"]["code"] == "VALIDATION"
    assert "100" in body["errors"][0]["message"]
    body = await client.post("{ nope }")
    assert body["errors"][0]["message"] == "Cannot query field 'nope' on type 'Query'."
