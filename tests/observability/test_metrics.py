"""/metrics is scraped like Prometheus would, and its numbers follow the requests made."""

from __future__ import annotations

import datetime as dt

from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Actor, ApiClient

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]

CREATE_CONTRACT = """
mutation CreateContract($input: CreateContractInput!) {
  createContract(input: $input) { contract { id } userErrors { code field } }
}"""
ADD_MILESTONE = """
mutation AddMilestone($input: AddMilestoneInput!) {
  addMilestone(input: $input) { milestone { id } userErrors { code field } }
}"""


async def scrape(api: ApiClient) -> Samples:
    response = await api.http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def operations(samples: Samples, operation: str, kind: str, outcome: str) -> float:
    labels = (("operation", operation), ("outcome", outcome), ("type", kind))
    return samples.get(("milestones_graphql_operations_total", labels), 0.0)


def latency_count(samples: Samples, operation: str, kind: str) -> float:
    labels = (("operation", operation), ("type", kind))
    return samples.get(("milestones_graphql_operation_duration_seconds_count", labels), 0.0)


async def test_operation_counters_move_with_each_outcome(
    api: ApiClient, client: Actor, freelancer: Actor, anonymous: Actor
) -> None:
    before = await scrape(api)

    freelancer_id = await freelancer.user_id()
    created = await client.gql(
        CREATE_CONTRACT, {"input": {"title": "Logo", "freelancerId": freelancer_id}}
    )
    contract_id = created["createContract"]["contract"]["id"]
    refused = await client.gql(
        ADD_MILESTONE, {"input": {"contractId": contract_id, "title": "Sketch", "amount": "0"}}
    )
    assert refused["addMilestone"]["userErrors"][0]["code"] == "VALIDATION"
    unauthenticated = await anonymous.post("query Me { me { id } }")
    assert unauthenticated["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"

    after = await scrape(api)
    delta = {
        name: operations(after, *name) - operations(before, *name)
        for name in (
            ("CreateContract", "mutation", "ok"),
            ("AddMilestone", "mutation", "user_error"),
            ("AddMilestone", "mutation", "ok"),
            ("Me", "query", "user_error"),
        )
    }
    assert delta == {
        ("CreateContract", "mutation", "ok"): 1,
        ("AddMilestone", "mutation", "user_error"): 1,
        ("AddMilestone", "mutation", "ok"): 0,
        ("Me", "query", "user_error"): 1,
    }
    assert (
        latency_count(after, "CreateContract", "mutation")
        - latency_count(before, "CreateContract", "mutation")
        == 1
    )
    graphql_ok = (
        "milestones_http_requests_total",
        (("method", "POST"), ("route", "/graphql"), ("status", "200")),
    )
    assert after[graphql_ok] - before.get(graphql_ok, 0.0) >= 3


async def test_anonymous_operations_share_one_label(api: ApiClient, client: Actor) -> None:
    before = await scrape(api)
    await client.gql("{ me { id } }")
    after = await scrape(api)
    assert (
        operations(after, "anonymous", "query", "ok")
        - operations(before, "anonymous", "query", "ok")
        == 1
    )


async def test_email_outbox_size_is_read_at_scrape_time(
    api: ApiClient, client: Actor, freelancer: Actor
) -> None:
    from milestones.models import EmailOutbox, Notification

    freelancer_id = await freelancer.user_id()
    await client.gql(CREATE_CONTRACT, {"input": {"title": "Logo", "freelancerId": freelancer_id}})
    notification = await Notification.first()
    assert notification is not None
    now = dt.datetime.now(dt.UTC)
    emails = [
        await EmailOutbox.create(
            notification_id=notification.id,
            to_address="fred@example.com",
            subject=notification.message,
            body=notification.message,
            next_attempt_at=now,
        )
        for _ in range(2)
    ]
    assert (await scrape(api))[("milestones_email_outbox_size", ())] == 2

    emails[0].sent_at = now
    await emails[0].save()
    assert (await scrape(api))[("milestones_email_outbox_size", ())] == 1


async def test_metrics_list_every_family_before_any_traffic(api: ApiClient) -> None:
    response = await api.http.get("/metrics")
    for family in (
        "milestones_graphql_operations_total",
        "milestones_graphql_operation_duration_seconds",
        "milestones_open_websockets",
        "milestones_active_subscriptions",
        "milestones_notification_delivery_lag_seconds",
        "milestones_email_outbox_size",
    ):
        assert f"# TYPE {family} " in response.text, family
