"""Rate limits (API.md "Fair use"): budgets per user (per address without a token), a 429 with
`Retry-After` and `RATE_LIMITED` over HTTP, an `error` over WebSocket, and a refused request
changes nothing."""

from __future__ import annotations

import uuid

import pytest
from starlette.applications import Starlette

from milestones.config import RateLimit, Settings
from milestones.models import Milestone, Notification
from milestones.rate_limits import LOCAL_ENTRY_BYTES, Budget, LocalCounters, RateLimiter
from milestones.schema.rate_limiting import mutation_charges, root_fields
from tests.conftest import Actor
from tests.helpers import create_contract_with_milestones, mutation_document
from tests.subscriptions.wsclient import graphql_ws, served_ws_url

PER_MINUTE = 60.0
ME = "query { me { id } }"


def limit(text: str) -> RateLimit:
    parsed = RateLimit.parse(text)
    assert parsed is not None
    return parsed


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "rate_limit_queries": limit("4/minute"),
            "rate_limit_mutations": limit("6/minute"),
            "rate_limit_notifying": limit("3/minute"),
            "rate_limit_subscriptions": limit("2/minute"),
            "rate_limit_socket_refusals": 2,
        }
    )


# --- the settings and the meter ------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "count", "period"),
    [("600/minute", 600, 60.0), ("5/second", 5, 1.0), ("30/hour", 30, 3600.0)],
)
def test_rate_limit_settings_read_count_per_period(text: str, count: int, period: float) -> None:
    assert RateLimit.parse(text) == RateLimit(count, period)
    assert str(RateLimit.parse(text)) == text


@pytest.mark.parametrize("text", ["600", "0/minute", "-1/minute", "5/day", "x/second"])
def test_malformed_rate_limits_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="rate limit"):
        Settings(rate_limit_queries=text)


def test_off_turns_a_limit_off_and_defaults_follow_api_md() -> None:
    defaults = Settings(
        rate_limit_queries="600/minute",
        rate_limit_mutations="120/minute",
        rate_limit_notifying="30/minute",
        rate_limit_subscriptions="60/minute",
    )
    for name, default in Settings.model_fields.items():
        if name.startswith("rate_limit_") and isinstance(default.default, RateLimit):
            assert getattr(defaults, name) == default.default
    assert Settings(rate_limit_queries="off").rate_limit_queries is None


def test_a_burst_of_count_then_one_per_interval() -> None:
    counters = LocalCounters(1024 * 1024)
    five = RateLimit(5, 1.0)
    key = b"k" * 20
    admitted = [counters.take([(key, five, 1)], now=100.0)[0] < 0 for _ in range(7)]
    assert admitted == [True] * 5 + [False] * 2
    worst, wait = counters.take([(key, five, 1)], now=100.0)
    assert worst == 0 and wait == pytest.approx(0.2)
    assert counters.take([(key, five, 1)], now=100.2)[0] < 0  # one interval later: one more


def test_a_request_is_charged_on_every_budget_or_on_none() -> None:
    counters = LocalCounters(1024 * 1024)
    roomy, tight = (b"a" * 20, RateLimit(100, 60.0)), (b"b" * 20, RateLimit(1, 60.0))
    assert counters.take([(*roomy, 1), (*tight, 1)], now=0.0)[0] < 0
    worst, _ = counters.take([(*roomy, 1), (*tight, 1)], now=0.0)
    assert worst == 1
    # The refused request did not use the roomy budget: 98 more fit (100 - the first).
    admitted = sum(counters.take([(*roomy, 1)], now=0.0)[0] < 0 for _ in range(100))
    assert admitted == 99


def test_the_in_process_table_has_a_byte_budget_against_rotating_addresses() -> None:
    budget = 64 * 1024
    counters = LocalCounters(budget)
    hour = RateLimit(10, 3600.0)
    for address in range(50_000):
        counters.take([(address.to_bytes(20, "big"), hour, 1)], now=1.0)
    assert len(counters) * LOCAL_ENTRY_BYTES <= budget


def test_mutation_root_fields_are_counted_through_fragments_and_aliases() -> None:
    from graphql import parse

    document = parse(
        """
        mutation Two { a: markNotificationsRead(input: {}) { count } ...More }
        fragment More on Mutation { b: endContract(input: {contractId: "x"}) { contract { id } }
                                     ... on Mutation { c: endContract(input: {contractId: "y"}) {
                                       contract { id } } } }
        """
    )
    fields = root_fields(document, "Two")
    assert fields == ["markNotificationsRead", "endContract", "endContract"]
    assert mutation_charges(fields) == [(Budget.MUTATIONS, 3), (Budget.NOTIFYING, 2)]


# --- over HTTP -----------------------------------------------------------------------


async def test_queries_over_the_budget_get_429_with_retry_after(client: Actor) -> None:
    for _ in range(4):
        response = await client.http.post(
            "/graphql", json={"query": ME}, headers={"authorization": f"Bearer {client.token}"}
        )
        assert response.status_code == 200, response.text
    response = await client.http.post(
        "/graphql", json={"query": ME}, headers={"authorization": f"Bearer {client.token}"}
    )
    assert response.status_code == 429
    assert 1 <= int(response.headers["retry-after"]) <= PER_MINUTE / 4
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert "data" not in response.json()


async def test_budgets_are_per_user_and_per_address_without_a_token(
    client: Actor, freelancer: Actor, anonymous: Actor
) -> None:
    for _ in range(4):
        await client.post(ME)
    assert (await client.post(ME))["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    assert "errors" not in await freelancer.post(ME)  # someone else's budget is whole
    for _ in range(4):
        body = await anonymous.post("query { __typename }")
        assert "errors" not in body
    assert (await anonymous.post("query { __typename }"))["errors"][0]["extensions"][
        "code"
    ] == "RATE_LIMITED"


async def test_a_refused_mutation_changes_nothing(
    settings: Settings, client: Actor, freelancer: Actor
) -> None:
    await client.user_id()
    await freelancer.user_id()
    room = await create_contract_with_milestones(client, freelancer, ["10.00", "20.00"])
    # createContract + 2 addMilestone notify the freelancer: the notifying budget (3) is spent.
    milestones_before = await Milestone.all().count()
    notifications_before = await Notification.all().count()
    response = await client.http.post(
        "/graphql",
        json={
            "query": mutation_document("addMilestone"),
            "variables": {"input": {"contractId": room.contract_id, "title": "M3", "amount": "1"}},
        },
        headers={"authorization": f"Bearer {client.token}"},
    )
    assert response.status_code == 429
    assert response.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    assert await Milestone.all().count() == milestones_before
    assert await Notification.all().count() == notifications_before
    # A mutation that tells nobody else draws only on the mutations budget.
    body = await client.post("mutation { markNotificationsRead(input: {}) { count } }")
    assert "errors" not in body, body


async def test_a_cached_room_is_metered_too(
    settings: Settings, client: Actor, freelancer: Actor, app: Starlette
) -> None:
    assert app.state.room_cache is not None
    room = await create_contract_with_milestones(client, freelancer)
    query = "query Room($id: ID!) { contract(id: $id) { id title } }"
    statuses = []
    for _ in range(6):
        response = await client.http.post(
            "/graphql",
            json={"query": query, "variables": {"id": room.contract_id}},
            headers={"authorization": f"Bearer {client.token}"},
        )
        statuses.append(response.status_code)
    assert app.state.room_cache.hits >= 1
    assert statuses == [200] * 4 + [429] * 2  # hits served from memory are metered too
    assert response.headers["retry-after"]


# --- over WebSocket ------------------------------------------------------------------


async def test_subscriptions_over_the_budget_get_an_error_then_the_socket_closes_4429(
    app: Starlette, client: Actor
) -> None:
    await client.user_id()
    async with served_ws_url(app) as url, graphql_ws(url) as ws:
        await ws.init(client.token)
        await ws.subscribe_notifications("1")
        await ws.subscribe_notifications("2")
        await ws.subscribe_notifications("3")
        refused = await ws.receive()
        assert refused["type"] == "error" and refused["id"] == "3", refused
        assert refused["payload"][0]["extensions"]["code"] == "RATE_LIMITED"
        await ws.subscribe_notifications("4")
        assert (await ws.receive())["type"] == "error"
        await ws.subscribe_notifications("5")  # keeps going: closed
        assert await ws.closed_with() == 4429


async def test_queries_over_the_socket_share_the_budget_and_get_an_error_message(
    app: Starlette, client: Actor
) -> None:
    await client.user_id()  # one of the four
    async with served_ws_url(app) as url, graphql_ws(url) as ws:
        await ws.init(client.token)
        for number in range(3):
            await ws.subscribe(str(number), ME)
            assert (await ws.next_payload(str(number)))["me"]["id"]
        await ws.subscribe("over", ME)
        message = await ws.receive()
        while message["type"] == "complete":
            message = await ws.receive()
        assert message["type"] == "error" and message["id"] == "over", message
        assert message["payload"][0]["extensions"]["code"] == "RATE_LIMITED"


# --- shared through Redis -----------------------------------------------------------


@pytest.mark.redis
async def test_instances_share_one_budget_through_redis(redis_url: str) -> None:
    prefix = f"milestones-test:{uuid.uuid4().hex}:"
    limits = {Budget.MUTATIONS: RateLimit(5, 60.0)}
    first = RateLimiter(limits, redis_url=redis_url, key_prefix=prefix)
    second = RateLimiter(limits, redis_url=redis_url, key_prefix=prefix)
    try:
        results = [
            await limiter.admit("sub:cleo", [(Budget.MUTATIONS, 1)])
            for limiter in (first, second) * 4
        ]
        assert [result is None for result in results] == [True] * 5 + [False] * 3
        refusal = results[-1]
        assert refusal is not None and refusal.budget is Budget.MUTATIONS
        assert 1 <= refusal.retry_after <= 12
        assert len(first.local) == 0 and len(second.local) == 0  # counted in Redis only
    finally:
        await first.close()
        await second.close()


async def test_without_redis_the_instance_meters_alone() -> None:
    limits = {Budget.QUERIES: RateLimit(2, 60.0)}
    # Nothing listens on port 1: Redis is down, the instance counts in-process.
    limiter = RateLimiter(limits, redis_url="redis://127.0.0.1:1/0")
    try:
        results = [await limiter.admit("sub:x", [(Budget.QUERIES, 1)]) for _ in range(3)]
        assert [result is None for result in results] == [True, True, False]
    finally:
        await limiter.close()
