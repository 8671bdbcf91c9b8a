"""Webhook endpoint actions with typed commands: the owner must be a party to the contract,
the order of refusals, and the command's own problems raised at the VALIDATION step."""

from __future__ import annotations

import asyncio

import pytest

from milestones.domain import commands, webhooks
from milestones.domain.errors import ErrorCode, Problem
from milestones.domain.values import OMITTED
from milestones.models import WebhookEndpoint
from milestones.models.enums import EventKind
from milestones.webhooks import addresses
from tests.domain.conftest import MakeRoom, People, refused

URL = "http://127.0.0.1:9/hooks"
KINDS = (EventKind.CONTRACT_ENDED, EventKind.MILESTONE_ADDED)


async def test_an_endpoint_is_limited_to_a_contract_of_its_owner_only(
    people: People, make_room: MakeRoom
) -> None:
    room = await make_room()
    limited = commands.CreateWebhookEndpoint(url=URL, kinds=KINDS, contract_id=room.contract.id)
    assert await refused(
        webhooks.create_webhook_endpoint(people.outsider, limited, production=False)
    ) == [(ErrorCode.NOT_FOUND, "contract_id")]
    unknown = commands.CreateWebhookEndpoint(url=URL, kinds=KINDS, contract_id=None)
    assert await refused(
        webhooks.create_webhook_endpoint(people.client, unknown, production=False)
    ) == [(ErrorCode.NOT_FOUND, "contract_id")]

    created = await webhooks.create_webhook_endpoint(people.freelancer, limited, production=False)
    assert created.endpoint.contract_id == room.contract.id
    assert created.endpoint.kinds == "CONTRACT_ENDED,MILESTONE_ADDED"
    widened = await webhooks.update_webhook_endpoint(
        people.freelancer,
        commands.UpdateWebhookEndpoint(id=created.endpoint.id, contract_id=commands.EVERY_CONTRACT),
        production=False,
    )
    assert widened.contract_id is None and widened.url == URL  # omitted: unchanged


async def test_not_found_comes_before_the_commands_problems(people: People) -> None:
    created = await webhooks.create_webhook_endpoint(
        people.freelancer, commands.CreateWebhookEndpoint(url=URL, kinds=KINDS), production=False
    )
    problem = Problem(ErrorCode.VALIDATION, "Choose at least one kind.", "kinds")
    bad = commands.UpdateWebhookEndpoint(id=created.endpoint.id, kinds=(), problems=(problem,))
    assert await refused(
        webhooks.update_webhook_endpoint(people.client, bad, production=False)
    ) == [(ErrorCode.NOT_FOUND, "id")]
    assert await refused(
        webhooks.update_webhook_endpoint(people.freelancer, bad, production=False)
    ) == [(ErrorCode.VALIDATION, "kinds")]
    # A production URL that resolves to a private address is refused at the same step.
    private = commands.UpdateWebhookEndpoint(
        id=created.endpoint.id, url="https://127.0.0.1/hooks", kinds=OMITTED
    )
    assert await refused(
        webhooks.update_webhook_endpoint(people.freelancer, private, production=True)
    ) == [(ErrorCode.VALIDATION, "url")]
    assert (await WebhookEndpoint.get(id=created.endpoint.id)).url == URL


async def test_a_keyed_delete_replays_after_the_endpoint_is_gone(people: People) -> None:
    created = await webhooks.create_webhook_endpoint(
        people.freelancer, commands.CreateWebhookEndpoint(url=URL, kinds=KINDS), production=False
    )
    delete = commands.DeleteWebhookEndpoint(id=created.endpoint.id, idempotency_key="d")
    assert await webhooks.delete_webhook_endpoint(people.freelancer, delete) == created.endpoint.id
    assert await webhooks.delete_webhook_endpoint(people.freelancer, delete) == created.endpoint.id
    # Another user's key is theirs: for them the endpoint is simply not found.
    assert await refused(webhooks.delete_webhook_endpoint(people.client, delete)) == [
        (ErrorCode.NOT_FOUND, "id")
    ]


async def test_a_slow_dns_answer_holds_up_no_other_action(
    people: People, make_room: MakeRoom, monkeypatch: pytest.MonkeyPatch
) -> None:
    answer = asyncio.Event()
    asked = asyncio.Event()

    async def slow_resolve(host: str, port: int) -> list[str]:
        asked.set()
        await answer.wait()
        return ["93.184.216.34"]

    monkeypatch.setattr(addresses, "resolve", slow_resolve)
    create = commands.CreateWebhookEndpoint(url="https://hooks.example.com/x", kinds=KINDS)
    waiting = asyncio.create_task(
        webhooks.create_webhook_endpoint(people.freelancer, create, production=True)
    )
    await asked.wait()
    # While the lookup waits, another action runs to its end (on SQLite they share one lock).
    await asyncio.wait_for(make_room(), timeout=30)
    answer.set()
    created = await waiting
    assert created.endpoint.url == "https://hooks.example.com/x"
