"""Webhook endpoints through the API: created with a secret shown once, listed, changed,
deleted, and refused with a code naming the bad field."""

from __future__ import annotations

from standardwebhooks import Webhook

from tests.conftest import Actor
from tests.helpers import create_contract
from tests.webhooks.documents import (
    DELETE,
    MY_ENDPOINTS,
    UPDATE,
    create_endpoint,
    created_endpoint,
)

URL = "http://127.0.0.1:9/hooks"


async def test_secret_is_shown_once_and_signs_standard_webhooks(freelancer: Actor) -> None:
    payload = await create_endpoint(freelancer, url=URL, kinds=["MILESTONE_ADDED"])
    assert payload["userErrors"] == []
    secret = payload["secret"]
    assert secret.startswith("whsec_")
    Webhook(secret)  # a secret the Standard Webhooks library accepts
    endpoint = payload["webhookEndpoint"]
    assert endpoint["url"] == URL
    assert endpoint["kinds"] == ["MILESTONE_ADDED"]
    assert endpoint["contract"] is None
    listed = (await freelancer.gql(MY_ENDPOINTS))["me"]["webhookEndpoints"]
    assert listed == [endpoint]
    assert "secret" not in str(listed) and secret not in str(listed)


async def test_an_endpoint_is_changed_and_deleted_by_its_owner_only(
    client: Actor, freelancer: Actor
) -> None:
    contract = await create_contract(client, freelancer)
    endpoint_id, _ = await created_endpoint(freelancer, url=URL, kinds=["MILESTONE_ADDED"])

    foreign = await client.gql(UPDATE, {"input": {"id": endpoint_id, "url": URL + "/x"}})
    assert [e["code"] for e in foreign["updateWebhookEndpoint"]["userErrors"]] == ["NOT_FOUND"]

    changed = await freelancer.gql(
        UPDATE,
        {
            "input": {
                "id": endpoint_id,
                "kinds": ["CONTRACT_ENDED", "MILESTONE_APPROVED"],
                "contractId": contract["id"],
            }
        },
    )
    payload = changed["updateWebhookEndpoint"]
    assert payload["userErrors"] == []
    assert payload["webhookEndpoint"]["url"] == URL  # omitted: unchanged
    assert payload["webhookEndpoint"]["kinds"] == ["CONTRACT_ENDED", "MILESTONE_APPROVED"]
    assert payload["webhookEndpoint"]["contract"] == {"id": contract["id"]}

    widened = await freelancer.gql(UPDATE, {"input": {"id": endpoint_id, "contractId": None}})
    assert widened["updateWebhookEndpoint"]["webhookEndpoint"]["contract"] is None

    refused = await client.gql(DELETE, {"input": {"id": endpoint_id}})
    assert [e["code"] for e in refused["deleteWebhookEndpoint"]["userErrors"]] == ["NOT_FOUND"]
    deleted = await freelancer.gql(DELETE, {"input": {"id": endpoint_id}})
    assert deleted["deleteWebhookEndpoint"] == {
        "deletedWebhookEndpointId": endpoint_id,
        "userErrors": [],
    }
    assert (await freelancer.gql(MY_ENDPOINTS))["me"]["webhookEndpoints"] == []


async def test_a_contract_the_owner_is_not_party_to_is_not_found(
    client: Actor, freelancer: Actor, outsider: Actor
) -> None:
    contract = await create_contract(client, freelancer)
    payload = await create_endpoint(
        outsider, url=URL, kinds=["MILESTONE_ADDED"], contractId=contract["id"]
    )
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [("NOT_FOUND", "contractId")]
    assert payload["webhookEndpoint"] is None and payload["secret"] is None
    assert (await outsider.gql(MY_ENDPOINTS))["me"]["webhookEndpoints"] == []


async def test_bad_url_and_empty_kinds_are_validation_errors_on_their_fields(
    freelancer: Actor,
) -> None:
    for url in ("ftp://example.com/x", "not a url", "https://user:pw@example.com/", "/relative"):
        payload = await create_endpoint(freelancer, url=url, kinds=[])
        assert sorted((e["code"], e["field"]) for e in payload["userErrors"]) == [
            ("VALIDATION", "kinds"),
            ("VALIDATION", "url"),
        ], url
    too_long = "https://example.com/" + "a" * 2100
    payload = await create_endpoint(freelancer, url=too_long, kinds=["MILESTONE_ADDED"])
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [("VALIDATION", "url")]
    assert (await freelancer.gql(MY_ENDPOINTS))["me"]["webhookEndpoints"] == []


async def test_a_user_has_a_bounded_number_of_endpoints(freelancer: Actor) -> None:
    from milestones.domain.webhooks import MAX_ENDPOINTS_PER_USER

    for _ in range(MAX_ENDPOINTS_PER_USER):
        await created_endpoint(freelancer, url=URL, kinds=["MILESTONE_ADDED"])
    payload = await create_endpoint(freelancer, url=URL, kinds=["MILESTONE_ADDED"])
    assert [e["code"] for e in payload["userErrors"]] == ["VALIDATION"]
    listed = (await freelancer.gql(MY_ENDPOINTS))["me"]["webhookEndpoints"]
    assert len(listed) == MAX_ENDPOINTS_PER_USER


async def test_someone_elses_endpoints_are_not_listed(client: Actor, freelancer: Actor) -> None:
    await created_endpoint(freelancer, url=URL, kinds=["MILESTONE_ADDED"])
    await create_contract(client, freelancer)
    freelancer_id = await freelancer.user_id()
    seen = await client.gql(
        "query($id: ID!) { node(id: $id) { ... on User { webhookEndpoints { id } } } }",
        {"id": freelancer_id},
    )
    assert seen["node"]["webhookEndpoints"] == []
