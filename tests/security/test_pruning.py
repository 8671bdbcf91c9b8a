"""Bounded tables: idempotency records expire after IDEMPOTENCY_TTL, sent and parked emails
after EMAIL_RETENTION; deleted in batches, by one instance at a time, shown in /metrics. The
contract's history (events, notifications, ledger) is never pruned. And /metrics itself."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from starlette.applications import Starlette
from tortoise import connections

from milestones.app import create_app
from milestones.config import Settings
from milestones.models import (
    ContractEvent,
    EmailOutbox,
    IdempotencyRecord,
    LedgerEntry,
    Notification,
    User,
)
from milestones.pruning import ADVISORY_LOCK_KEY, PruneJob, prune
from tests.conftest import Actor, is_postgres_url
from tests.helpers import create_contract_with_milestones, mutation_document

DAY = dt.timedelta(days=1)


def _ago(delta: dt.timedelta) -> dt.datetime:
    return dt.datetime.now(dt.UTC) - delta


async def _activate(actor: Actor, milestone_id: str, key: str) -> dict[str, object]:
    return await actor.post(
        mutation_document("activateMilestone"),
        {"input": {"milestoneId": milestone_id, "idempotencyKey": key}},
    )


async def test_an_expired_idempotency_key_is_gone_and_can_be_used_again(
    client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["10.00", "20.00"])
    assert "errors" not in await _activate(client, room.milestone(0), "key-1")
    await room.submit(0)
    await room.approve(0)
    # Within its lifetime the key is bound to its first input.
    refused = await _activate(client, room.milestone(1), "key-1")
    payload = refused["data"]["activateMilestone"]  # type: ignore[index]
    assert [error["code"] for error in payload["userErrors"]] == ["IDEMPOTENCY_CONFLICT"]
    await IdempotencyRecord.all().update(created_at=_ago(DAY + dt.timedelta(minutes=1)))
    again = await _activate(client, room.milestone(1), "key-1")
    payload = again["data"]["activateMilestone"]  # type: ignore[index]
    assert payload["userErrors"] == [], again
    assert payload["milestone"]["status"] == "ACTIVE"
    (record,) = await IdempotencyRecord.all()
    assert record.created_at > _ago(dt.timedelta(minutes=1))  # the new use's record


async def test_pruning_deletes_expired_records_and_old_emails_only(
    app: Starlette, client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["10.00"])
    await room.activate(0, idempotencyKey="old")
    await room.submit(0)
    await room.approve(0, idempotencyKey="fresh")
    await IdempotencyRecord.filter(key="old").update(created_at=_ago(DAY * 2))
    notification = await Notification.all().first()
    assert notification is not None

    async def email(**fields: object) -> EmailOutbox:
        return await EmailOutbox.create(
            notification_id=notification.id,
            to_address="cleo@example.com",
            subject="s",
            body="b",
            next_attempt_at=_ago(DAY * 100),
            **fields,
        )

    old_sent = await email(sent_at=_ago(DAY * 31))
    old_parked = await email(failed_at=_ago(DAY * 31))
    recent_sent = await email(sent_at=_ago(DAY * 29))
    never_sent = await email()
    history = (
        await ContractEvent.all().count(),
        await Notification.all().count(),
        await LedgerEntry.all().count(),
    )

    pruned = await app.state.pruner.run_once()

    assert pruned == {
        "idempotency_records": 1,
        "emails_sent": 1,
        "emails_failed": 1,
        "webhooks_delivered": 0,
        "webhooks_parked": 0,
    }
    assert await IdempotencyRecord.filter(key="fresh").exists()
    assert not await IdempotencyRecord.filter(key="old").exists()
    remaining = set(await EmailOutbox.all().values_list("id", flat=True))
    assert {recent_sent.id, never_sent.id} <= remaining
    assert not {old_sent.id, old_parked.id} & remaining
    assert (
        await ContractEvent.all().count(),
        await Notification.all().count(),
        await LedgerEntry.all().count(),
    ) == history
    metrics = (await client.http.get("/metrics")).text
    assert 'milestones_pruned_rows_total{job="idempotency_records"} 1.0' in metrics
    assert 'milestones_prune_last_run_timestamp_seconds{job="emails_sent"}' in metrics


async def test_pruning_goes_a_batch_at_a_time(app: Starlette, client: Actor) -> None:
    await client.user_id()
    viewer = await User.get(sub="client")
    for number in range(7):
        await IdempotencyRecord.create(
            user_id=viewer.id, operation="op", key=f"k{number}", request_hash="h", result={}
        )
    await IdempotencyRecord.all().update(created_at=_ago(DAY * 2))
    job = PruneJob("idempotency_records", IdempotencyRecord, "created_at", DAY)
    statements: list[str] = []
    connection = connections.get("default")
    original = connection.execute_query

    async def counting(query: str, values: list[object] | None = None) -> object:
        if query.lstrip().upper().startswith("DELETE"):
            statements.append(query)
        return await original(query, values)

    connection.execute_query = counting  # type: ignore[method-assign]
    try:
        assert await prune(job, batch_size=3) == 7
    finally:
        connection.execute_query = original  # type: ignore[method-assign]
    assert len(statements) == 3  # 3 + 3 + 1
    assert await IdempotencyRecord.all().count() == 0


async def test_one_instance_prunes_at_a_time(app: Starlette, settings: Settings) -> None:
    if not is_postgres_url(settings.database_url):
        pytest.skip("the advisory lock is PostgreSQL's; SQLite is one process")
    connection = connections.get("default")
    async with connection.acquire_connection() as other_instance:
        assert await other_instance.fetchval("SELECT pg_try_advisory_lock($1)", ADVISORY_LOCK_KEY)
        try:
            assert await app.state.pruner.run_once() is None
        finally:
            await other_instance.fetchval("SELECT pg_advisory_unlock($1)", ADVISORY_LOCK_KEY)
    assert await app.state.pruner.run_once() is not None


def test_idempotency_ttl_is_24_hours_at_least() -> None:
    assert Settings().idempotency_ttl == DAY
    with pytest.raises(ValueError, match="IDEMPOTENCY_TTL"):
        create_app(Settings(idempotency_ttl="23h"))
    assert Settings(idempotency_ttl="7d").idempotency_ttl == DAY * 7


# --- /metrics ------------------------------------------------------------------------


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"metrics_token": None})


@pytest.mark.parametrize(
    ("header", "status"),
    [
        (None, 401),
        ("Bearer wrong-token", 401),
        ("bearer s3cret-metrics", 401),
        ("Bearer s3cret-metrics", 200),
    ],
)
async def test_metrics_need_the_token_when_one_is_set(
    settings: Settings, header: str | None, status: int
) -> None:
    import httpx
    from pydantic import SecretStr

    protected = create_app(
        settings.model_copy(update={"metrics_token": SecretStr("s3cret-metrics")})
    )
    async with protected.router.lifespan_context(protected):
        transport = httpx.ASGITransport(app=protected)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            headers = {"authorization": header} if header is not None else {}
            response = await http.get("/metrics", headers=headers)
    assert response.status_code == status
    if status == 401:
        assert response.headers["www-authenticate"] == "Bearer"
        assert "milestones_" not in response.text
    else:
        assert "milestones_http_requests" in response.text


def test_production_warns_when_metrics_are_open(caplog: pytest.LogCaptureFixture) -> None:
    secret = "p" * 40
    with caplog.at_level(logging.WARNING, logger="milestones.app"):
        create_app(Settings(milestones_env="production", jwt_secret=secret))
    assert any("METRICS_TOKEN" in record.getMessage() for record in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="milestones.app"):
        create_app(Settings(milestones_env="production", jwt_secret=secret, metrics_token="t"))
    assert not any("METRICS_TOKEN" in record.getMessage() for record in caplog.records)
