"""In production a webhook URL must be https and reach only public addresses: checked when the
endpoint is saved and again before each attempt (DNS can change), connecting to the address
that was checked."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from milestones.config import Settings
from milestones.webhooks import addresses
from milestones.webhooks.sender import WebhookSender
from tests.conftest import Actor
from tests.helpers import create_contract_with_milestones
from tests.webhooks.documents import UPDATE, create_endpoint, created_endpoint, deliveries

PUBLIC = "93.184.216.34"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"milestones_env": "production"})


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """A resolver the test controls: host -> addresses; other hosts resolve as usual."""
    answers: dict[str, list[str]] = {}
    system = addresses.system_resolve

    async def resolve(host: str, port: int) -> list[str]:
        if host in answers:
            return answers[host]
        return await system(host, port)

    monkeypatch.setattr(addresses, "resolve", resolve)
    return answers


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example/",  # not https
        "https://localhost/hooks",  # resolves to loopback
        "https://127.0.0.1/",
        "https://10.1.2.3/",
        "https://192.168.0.10/",
        "https://169.254.169.254/latest/meta-data",  # cloud metadata, link-local
        "https://100.64.0.1/",  # shared address space
        "https://224.0.0.1/",  # multicast
        "https://0.0.0.0/",
        "https://[::1]/",
        "https://[fe80::1]/",
        "https://[::ffff:127.0.0.1]/",  # IPv4-mapped loopback
        "https://[fd00::1]/",  # unique local
        "https://private.example/",  # resolves (fake DNS) to a private address
        "https://mixed.example/",  # one public, one private answer
    ],
)
async def test_production_refuses_urls_that_reach_inside(
    freelancer: Actor, dns: dict[str, list[str]], url: str
) -> None:
    dns["private.example"] = ["10.0.0.7"]
    dns["mixed.example"] = [PUBLIC, "127.0.0.1"]
    payload = await create_endpoint(freelancer, url=url, kinds=["MILESTONE_ADDED"])
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [("VALIDATION", "url")]
    assert payload["webhookEndpoint"] is None and payload["secret"] is None
    expected = "must use https" if url.startswith("http:") else "must point to a public address"
    assert expected in payload["userErrors"][0]["message"]


async def test_production_accepts_https_to_a_public_address(
    freelancer: Actor, dns: dict[str, list[str]]
) -> None:
    dns["hooks.example"] = [PUBLIC]
    endpoint_id, _ = await created_endpoint(
        freelancer, url="https://hooks.example/in", kinds=["MILESTONE_ADDED"]
    )
    dns["moved.example"] = ["127.0.0.1"]
    changed = await freelancer.gql(
        UPDATE, {"input": {"id": endpoint_id, "url": "https://moved.example/"}}
    )
    errors = changed["updateWebhookEndpoint"]["userErrors"]
    assert [(e["code"], e["field"]) for e in errors] == [("VALIDATION", "url")]


async def test_an_address_that_turned_private_after_creation_is_not_called(
    client: Actor, freelancer: Actor, dns: dict[str, list[str]]
) -> None:
    dns["hooks.example"] = [PUBLIC]
    endpoint_id, _ = await created_endpoint(
        freelancer, url="https://hooks.example/in", kinds=["MILESTONE_ADDED"]
    )
    dns["hooks.example"] = ["127.0.0.1"]  # DNS rebinding after the check at creation
    await create_contract_with_milestones(client, freelancer, ["10.00"])
    for _ in range(500):
        (shown,) = await deliveries(freelancer, endpoint_id)
        if shown["attempts"] and shown["lastError"]:
            break
        await asyncio.sleep(0.02)
    assert shown["status"] == "PENDING"
    assert shown["lastStatusCode"] is None
    assert shown["lastError"].startswith("refused: The URL must point to a public address")


async def test_the_attempt_connects_to_the_address_that_was_checked(
    dns: dict[str, list[str]],
) -> None:
    from milestones.live.bus import WakeupBus
    from milestones.models import WebhookDelivery

    dns["hooks.example"] = [PUBLIC]
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    sender = WebhookSender(WakeupBus("memory://"), production=True)
    await sender.start()
    assert sender._client is not None
    await sender._client.aclose()
    sender._client = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    try:
        destination = await addresses.check_destination(
            "https://hooks.example:8443/in?x=1", production=True
        )
        delivery = WebhookDelivery(message_id="msg_test", payload="{}")
        status, _ = await sender._post(destination, "whsec_" + "A" * 40, delivery, b"{}")
    finally:
        await sender.stop()
    assert status == 204
    (request,) = seen
    assert request.url.host == PUBLIC
    assert request.url.port == 8443 and request.url.path == "/in" and request.url.query == b"x=1"
    assert request.headers["host"] == "hooks.example:8443"
    assert request.extensions["sni_hostname"] == "hooks.example"
