"""Webhook endpoint mutations with an idempotencyKey: a replay answers the first payload byte
for byte (a create's secret included), other input is IDEMPOTENCY_CONFLICT, and the refusals
come in the contract's order (NOT_FOUND, IDEMPOTENCY_CONFLICT, VALIDATION)."""

from __future__ import annotations

from typing import Any

from tests.conftest import Actor
from tests.helpers import create_contract, raw_response
from tests.webhooks.documents import (
    CREATE,
    DELETE,
    MY_ENDPOINTS,
    UPDATE,
    create_endpoint,
    created_endpoint,
)

URL = "http://127.0.0.1:9/hooks"


def _errors(payload: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(error["code"], error["field"]) for error in payload["userErrors"]]


async def test_a_create_replay_answers_the_same_endpoint_and_secret_byte_for_byte(
    client: Actor, freelancer: Actor
) -> None:
    contract = await create_contract(client, freelancer)
    input = {
        "url": URL,
        "kinds": ["MILESTONE_ADDED", "CONTRACT_ENDED"],
        "contractId": contract["id"],
        "idempotencyKey": "hook-1",
    }
    first = await raw_response(freelancer, CREATE, {"input": input})
    assert b'"userErrors":[]' in first and b'"secret":"whsec_' in first
    endpoint_id = (await freelancer.gql(MY_ENDPOINTS))["me"]["webhookEndpoints"][0]["id"]
    # Later the endpoint changes: the replay still answers as the first response did.
    changed = await freelancer.gql(
        UPDATE, {"input": {"id": endpoint_id, "url": URL + "/moved", "contractId": None}}
    )
    assert changed["updateWebhookEndpoint"]["userErrors"] == []

    again = await raw_response(freelancer, CREATE, {"input": input})
    # The same kinds in another order are the same command.
    reordered = {**input, "kinds": ["CONTRACT_ENDED", "MILESTONE_ADDED", "CONTRACT_ENDED"]}
    once_more = await raw_response(freelancer, CREATE, {"input": reordered})

    assert again == first and once_more == first
    assert len((await freelancer.gql(MY_ENDPOINTS))["me"]["webhookEndpoints"]) == 1


async def test_the_same_key_with_other_input_is_idempotency_conflict(freelancer: Actor) -> None:
    key = {"idempotencyKey": "hook-2"}
    await created_endpoint(freelancer, url=URL, kinds=["MILESTONE_ADDED"], **key)

    other = await create_endpoint(freelancer, url=URL + "/b", kinds=["MILESTONE_ADDED"], **key)
    assert _errors(other) == [("IDEMPOTENCY_CONFLICT", "idempotencyKey")]
    assert other["webhookEndpoint"] is None and other["secret"] is None
    # IDEMPOTENCY_CONFLICT comes before VALIDATION: a bad repeat of a used key is a conflict.
    invalid = await create_endpoint(freelancer, url="ftp://x", kinds=[], **key)
    assert _errors(invalid) == [("IDEMPOTENCY_CONFLICT", "idempotencyKey")]
    assert len((await freelancer.gql(MY_ENDPOINTS))["me"]["webhookEndpoints"]) == 1


async def test_not_found_comes_before_idempotency_conflict(
    client: Actor, freelancer: Actor, outsider: Actor
) -> None:
    contract = await create_contract(client, freelancer)
    key = {"idempotencyKey": "hook-3"}
    await created_endpoint(outsider, url=URL, kinds=["MILESTONE_ADDED"], **key)

    foreign = await create_endpoint(
        outsider, url=URL, kinds=["MILESTONE_ADDED"], contractId=contract["id"], **key
    )
    assert _errors(foreign) == [("NOT_FOUND", "contractId")]


async def test_a_refusal_is_not_remembered(freelancer: Actor) -> None:
    key = {"idempotencyKey": "hook-4"}
    refused = await create_endpoint(freelancer, url="not a url", kinds=[], **key)
    assert sorted(_errors(refused)) == [("VALIDATION", "kinds"), ("VALIDATION", "url")]
    fixed = await create_endpoint(freelancer, url=URL, kinds=["MILESTONE_ADDED"], **key)
    assert fixed["userErrors"] == []


async def test_an_update_replay_answers_the_first_payload_and_other_input_conflicts(
    freelancer: Actor,
) -> None:
    endpoint_id, _ = await created_endpoint(freelancer, url=URL, kinds=["MILESTONE_ADDED"])
    input = {"id": endpoint_id, "kinds": ["CONTRACT_ENDED"], "idempotencyKey": "upd-1"}
    first = await raw_response(freelancer, UPDATE, {"input": input})
    assert b'"userErrors":[]' in first and b'"kinds":["CONTRACT_ENDED"]' in first
    await freelancer.gql(UPDATE, {"input": {"id": endpoint_id, "kinds": ["MILESTONE_ADDED"]}})

    assert await raw_response(freelancer, UPDATE, {"input": input}) == first
    # Sending the URL unchanged is other input than omitting it.
    other = await freelancer.gql(UPDATE, {"input": {**input, "url": URL}})
    assert _errors(other["updateWebhookEndpoint"]) == [("IDEMPOTENCY_CONFLICT", "idempotencyKey")]
    listed = (await freelancer.gql(MY_ENDPOINTS))["me"]["webhookEndpoints"]
    assert [endpoint["kinds"] for endpoint in listed] == [["MILESTONE_ADDED"]]


async def test_update_errors_come_in_the_contracts_order(
    client: Actor, freelancer: Actor, outsider: Actor
) -> None:
    contract = await create_contract(client, freelancer)
    endpoint_id, _ = await created_endpoint(freelancer, url=URL, kinds=["MILESTONE_ADDED"])

    async def update(actor: Actor, **input: Any) -> list[tuple[str, str | None]]:
        data = await actor.gql(UPDATE, {"input": {"id": endpoint_id, **input}})
        return _errors(data["updateWebhookEndpoint"])

    bad = {"url": None, "kinds": [], "idempotencyKey": "upd-2"}
    assert await update(client, **bad) == [("NOT_FOUND", "id")]  # not theirs
    assert await update(outsider, contractId=contract["id"], **bad) == [("NOT_FOUND", "id")]
    assert await update(freelancer, **bad) == [("VALIDATION", "url"), ("VALIDATION", "kinds")]
    assert await update(freelancer, url=URL + "/c", idempotencyKey="upd-2") == []
    assert await update(freelancer, **bad) == [("IDEMPOTENCY_CONFLICT", "idempotencyKey")]


async def test_a_delete_replay_answers_the_deleted_id_and_other_input_conflicts(
    freelancer: Actor,
) -> None:
    endpoint_id, _ = await created_endpoint(freelancer, url=URL, kinds=["MILESTONE_ADDED"])
    other_id, _ = await created_endpoint(freelancer, url=URL, kinds=["MILESTONE_ADDED"])
    input = {"id": endpoint_id, "idempotencyKey": "del-1"}
    first = await raw_response(freelancer, DELETE, {"input": input})
    assert b'"userErrors":[]' in first

    # The endpoint is gone, yet the retry answers as the first response did.
    assert await raw_response(freelancer, DELETE, {"input": input}) == first
    conflict = await freelancer.gql(DELETE, {"input": {**input, "id": other_id}})
    assert _errors(conflict["deleteWebhookEndpoint"]) == [
        ("IDEMPOTENCY_CONFLICT", "idempotencyKey")
    ]
    # Without the key, a deleted endpoint is simply not found.
    gone = await freelancer.gql(DELETE, {"input": {"id": endpoint_id}})
    assert _errors(gone["deleteWebhookEndpoint"]) == [("NOT_FOUND", "id")]
    listed = (await freelancer.gql(MY_ENDPOINTS))["me"]["webhookEndpoints"]
    assert [endpoint["id"] for endpoint in listed] == [other_id]
