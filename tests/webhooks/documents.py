"""The GraphQL documents the webhook tests send, and small helpers around them."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tests.conftest import Actor

JSON = dict[str, Any]

ENDPOINT_FIELDS = "id url kinds contract { id } createdAt updatedAt"

CREATE = f"""
mutation Create($input: CreateWebhookEndpointInput!) {{
  createWebhookEndpoint(input: $input) {{
    webhookEndpoint {{ {ENDPOINT_FIELDS} }}
    secret
    userErrors {{ code message field }}
  }}
}}
"""

UPDATE = f"""
mutation Update($input: UpdateWebhookEndpointInput!) {{
  updateWebhookEndpoint(input: $input) {{
    webhookEndpoint {{ {ENDPOINT_FIELDS} }}
    userErrors {{ code message field }}
  }}
}}
"""

DELETE = """
mutation Delete($input: DeleteWebhookEndpointInput!) {
  deleteWebhookEndpoint(input: $input) {
    deletedWebhookEndpointId
    userErrors { code message field }
  }
}
"""

MY_ENDPOINTS = f"query {{ me {{ webhookEndpoints {{ {ENDPOINT_FIELDS} }} }} }}"

DELIVERIES = """
query Deliveries($id: ID!) {
  node(id: $id) {
    ... on WebhookEndpoint {
      deliveries(first: 100) {
        edges {
          cursor
          node {
            id webhookId status attempts lastStatusCode lastError nextAttemptAt deliveredAt
            failedAt notification { id cursor kind }
          }
        }
      }
    }
  }
}
"""


async def create_endpoint(actor: Actor, **input: Any) -> JSON:
    """The whole payload of createWebhookEndpoint (asserting no GraphQL error)."""
    payload: JSON = (await actor.gql(CREATE, {"input": input}))["createWebhookEndpoint"]
    return payload


async def created_endpoint(actor: Actor, **input: Any) -> tuple[str, str]:
    """A new endpoint's (id, secret); asserts it was accepted."""
    payload = await create_endpoint(actor, **input)
    assert payload["userErrors"] == [], payload["userErrors"]
    return payload["webhookEndpoint"]["id"], payload["secret"]


async def deliveries(actor: Actor, endpoint_id: str) -> list[JSON]:
    data = await actor.gql(DELIVERIES, {"id": endpoint_id})
    return [edge["node"] for edge in data["node"]["deliveries"]["edges"]]


async def deliveries_once(
    actor: Actor, endpoint_id: str, status: str, within: float = 5.0
) -> list[JSON]:
    """The endpoint's deliveries once each has `status` (or as they are after `within`
    seconds): the sender records an answer after the receiver has sent it."""
    deadline = time.monotonic() + within
    while True:
        shown = await deliveries(actor, endpoint_id)
        if all(d["status"] == status for d in shown) or time.monotonic() > deadline:
            return shown
        await asyncio.sleep(0.02)
