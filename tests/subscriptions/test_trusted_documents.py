"""Trusted documents (PERSISTED_DOCUMENTS, TRUSTED_DOCUMENTS_ONLY) on HTTP, WebSocket and SSE."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from milestones.config import Settings
from milestones.live import transport as transport_module
from milestones.schema import documents as documents_module
from milestones.schema.limits import QueryLimits
from milestones.schema.root import build_schema
from milestones.web.trusted_documents import TrustedDocuments, TrustedDocumentsInvalid, document_id
from tests.conftest import TEST_JWT_SECRET
from tests.databases import migrated_sqlite_url
from tests.helpers import Actor, create_contract_with_milestones
from tests.subscriptions.sseclient import event_stream
from tests.subscriptions.wsclient import subscribed_client

ROOT = Path(__file__).resolve().parents[2]
NOTIFICATIONS = "subscription Notifications { notifications { cursor kind } }"
ME = "query Me { me { id } }"
ROOM = "query Room($id: ID!) { contract(id: $id) { title } }"
TRUSTED = {document_id(NOTIFICATIONS): NOTIFICATIONS, document_id(ME): ME, document_id(ROOM): ROOM}
UNTRUSTED = "query Mine { me { id name } }"


@pytest.fixture
def settings(settings: Settings, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    path = tmp_path / "persisted-documents.json"
    path.write_text(json.dumps(TRUSTED))
    # Tests named "…without_only…" run with the file but without TRUSTED_DOCUMENTS_ONLY.
    only = "without_only" not in request.node.name
    return settings.model_copy(update={"persisted_documents": path, "trusted_documents_only": only})


def _http(server_url: str) -> str:
    return server_url.replace("ws://", "http://").removesuffix("/graphql")


async def _post(actor: Actor, body: dict[str, Any]) -> httpx.Response:
    headers = {"authorization": f"Bearer {actor.token}", "accept": "application/json"}
    response: httpx.Response = await actor.http.post("/graphql", json=body, headers=headers)
    return response


def _code(body: dict[str, Any]) -> object:
    return body["errors"][0]["extensions"]["code"]


async def test_http_runs_trusted_documents_by_document_id_or_apollo_hash(client: Actor) -> None:
    by_id = await _post(client, {"documentId": document_id(ME)})
    by_hash = await _post(
        client,
        {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": document_id(ME)}}},
    )
    by_get = await client.http.get(
        "/graphql",
        params={"documentId": document_id(ME)},
        headers={"authorization": f"Bearer {client.token}"},
    )
    the_text_itself = await _post(client, {"query": ME})
    for response in (by_id, by_hash, by_get, the_text_itself):
        assert response.status_code == 200, response.text
        assert response.json()["data"]["me"]["id"]


async def test_http_refuses_any_other_document_with_400(client: Actor) -> None:
    own = await _post(client, {"query": UNTRUSTED})
    unknown = await _post(client, {"documentId": "0" * 64})
    for response in (own, unknown):
        assert response.status_code == 400
        assert _code(response.json()) == "PERSISTED_QUERY_NOT_FOUND"
        assert "data" not in response.json()


async def test_websocket_refuses_other_documents_with_an_error_message(
    server_url: str, freelancer: Actor
) -> None:
    async with subscribed_client(server_url, freelancer.token) as ws:
        await ws.send({"id": "own", "type": "subscribe", "payload": {"query": UNTRUSTED}})
        refused = await ws.receive()
        assert refused["type"] == "error" and refused["id"] == "own"
        assert refused["payload"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
        await ws.send(
            {
                "id": "n",
                "type": "subscribe",
                "payload": {"documentId": document_id(NOTIFICATIONS)},
            }
        )
        await ws.send({"id": "q", "type": "subscribe", "payload": {"documentId": document_id(ME)}})
        assert (await ws.next_payload("q"))["me"]["id"]
        assert await ws.receive() == {"id": "q", "type": "complete"}
        await ws.expect_silence(0.3)  # the trusted subscription runs: no error for "n"


async def test_trusted_subscriptions_by_id_over_websocket_and_sse_without_only(
    server_url: str, client: Actor, freelancer: Actor
) -> None:
    # Without TRUSTED_DOCUMENTS_ONLY the helpers' own documents set up the contract.
    async with (
        subscribed_client(server_url, freelancer.token) as ws,
        event_stream(
            _http(server_url),
            "",
            token=freelancer.token,
            extra={"documentId": document_id(NOTIFICATIONS)},
        ) as sse,
    ):
        await ws.send(
            {
                "id": "n",
                "type": "subscribe",
                "payload": {
                    "extensions": {
                        "persistedQuery": {"version": 1, "sha256Hash": document_id(NOTIFICATIONS)}
                    }
                },
            }
        )
        await ws.expect_silence(0.3)
        await create_contract_with_milestones(client, freelancer, ["100.00"])
        (over_ws,) = await ws.take("n", 1)
        (over_sse,) = await sse.results(1)
    assert over_sse.json()["data"]["notifications"] == over_ws
    assert over_sse.id == over_ws["cursor"]


async def test_sse_refuses_other_documents_in_the_stream(server_url: str, client: Actor) -> None:
    async with event_stream(_http(server_url), UNTRUSTED, token=client.token) as refused:
        assert refused.response.status_code == 200
        (error,) = await refused.results(1)
        complete = await refused.next()
    assert _code(error.json()) == "PERSISTED_QUERY_NOT_FOUND"
    assert complete is not None and complete.event == "complete"
    async with event_stream(
        _http(server_url), "", token=client.token, extra={"documentId": document_id(ME)}
    ) as trusted:
        (answer,) = await trusted.results(1)
    assert answer.json()["data"]["me"]["id"]


async def test_without_only_known_ids_and_ordinary_documents_both_run(
    server_url: str, client: Actor
) -> None:
    by_id = await _post(client, {"documentId": document_id(ME)})
    ordinary = await _post(client, {"query": UNTRUSTED})
    unknown = await _post(client, {"documentId": "f" * 64})
    assert by_id.json()["data"]["me"]["id"] == ordinary.json()["data"]["me"]["id"]
    # A hash nobody knows, and no query to fall back on: Apollo clients resend with the query.
    assert unknown.status_code == 400
    assert _code(unknown.json()) == "PERSISTED_QUERY_NOT_FOUND"
    async with subscribed_client(server_url, client.token) as ws:
        await ws.send({"id": "own", "type": "subscribe", "payload": {"query": UNTRUSTED}})
        assert (await ws.next_payload("own"))["me"]["id"]


async def test_rooms_named_by_id_are_cached_without_only(
    app: Starlette, client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    cache = app.state.room_cache
    body = {"documentId": document_id(ROOM), "variables": {"id": room.contract_id}}
    first, second = await _post(client, body), await _post(client, body)
    assert first.json() == second.json() == {"data": {"contract": {"title": "Website redesign"}}}
    assert (cache.misses, cache.hits) == (1, 1)


async def test_a_hash_that_names_another_document_than_the_query_is_refused(
    client: Actor,
) -> None:
    response = await _post(client, {"query": UNTRUSTED, "documentId": document_id(ME)})
    assert response.status_code == 400
    assert _code(response.json()) == "BAD_REQUEST"


def _schema() -> Any:
    return build_schema(production=False, limits=QueryLimits.from_settings(Settings()))


async def test_trusted_documents_are_parsed_once_at_start_through_the_gate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "documents.json"
    path.write_text(json.dumps(TRUSTED))
    schema = _schema()
    TrustedDocuments.load(path, schema, only=True)
    parsed: list[str] = []
    original = documents_module.parse

    def counting(source: str, **options: Any) -> Any:
        parsed.append(source)
        return original(source, **options)

    monkeypatch.setattr(documents_module, "parse", counting)
    for _ in range(2):
        # Anonymous (nothing is cached for those) and signed in alike: never parsed again.
        assert schema.documents.parse(ME, cache=False) is schema.documents.parse(ME, cache=True)
        result = await schema.execute(ME, context_value=SimpleNamespace(viewer=None))
        assert result.errors is not None and result.errors[0].path == ["me"]  # ran: no viewer
    assert parsed == []
    assert schema.documents.validation(ME) is not None  # validated once, with the rules in use


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not valid JSON"),
        ('["query { me { id } }"]', "must be a JSON object"),
        (json.dumps({"abc": ME}), "key 'abc' is not a sha256"),
        (json.dumps({"0" * 64: ME}), "is not the sha256 of its document"),
        (json.dumps({document_id("{ nope }"): "{ nope }"}), "does not validate"),
        (json.dumps({document_id("{ me {"): "{ me {"}), "does not parse"),
    ],
)
def test_a_bad_file_fails_start_up_with_a_clear_message(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "documents.json"
    path.write_text(content)
    with pytest.raises(TrustedDocumentsInvalid, match=message):
        TrustedDocuments.load(path, _schema(), only=True)


def test_serve_stops_with_the_reason_when_the_file_is_bad(tmp_path: Path) -> None:
    path = tmp_path / "documents.json"
    path.write_text(json.dumps({"0" * 64: ME}))
    env = {
        **os.environ,
        "DATABASE_URL": migrated_sqlite_url(tmp_path / "db.sqlite3"),
        "JWT_SECRET": TEST_JWT_SECRET,
        "PERSISTED_DOCUMENTS": str(path),
        "TRUSTED_DOCUMENTS_ONLY": "true",
    }
    result = subprocess.run(
        [sys.executable, "-m", "milestones.cli", "serve", "--port", "9"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "is not the sha256 of its document" in result.stderr
    assert "Traceback" not in result.stderr


async def test_a_subscribe_after_the_token_expired_closes_before_its_document_is_looked_up(
    server_url: str, freelancer: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with subscribed_client(server_url, freelancer.token) as ws:
        later = time.time() + 7200  # the token (an hour) has expired; the timer not yet fired
        monkeypatch.setattr(transport_module.time, "time", lambda: later)
        await ws.send({"id": "late", "type": "subscribe", "payload": {"documentId": "0" * 64}})
        # Closed as every late operation is, not answered PERSISTED_QUERY_NOT_FOUND.
        assert await ws.closed_with() == 4403
