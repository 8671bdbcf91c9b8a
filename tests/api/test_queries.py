"""Query fields: me, contracts, contract, node, and the limits of connections."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import (
    CONTRACTS_QUERY,
    MALFORMED_ID,
    ME_QUERY,
    NODE_QUERY,
    Actor,
    ApiClient,
    create_contract,
    create_contract_with_milestones,
    graphql_error_codes,
    missing_id,
    notification_nodes,
    pending_change_request,
    pending_refund_request,
    read_contract,
    variables,
)


async def contracts_of(actor: Actor, **arguments: Any) -> dict[str, Any]:
    data = await actor.gql(CONTRACTS_QUERY, variables(**arguments))
    connection: dict[str, Any] = data["contracts"]
    return connection


def ids(connection: dict[str, Any]) -> list[str]:
    return [edge["node"]["id"] for edge in connection["edges"]]


# --------------------------------------------------------------------------- me


async def test_me_is_the_viewer(api: ApiClient) -> None:
    alice = api.actor("alice", name="Alice Liddell", email="alice@example.com")

    me = (await alice.gql(ME_QUERY))["me"]

    assert me["name"] == "Alice Liddell"
    assert me["email"] == "alice@example.com"
    assert me["id"] == await alice.user_id()
    assert (await alice.gql(ME_QUERY))["me"]["id"] == me["id"]


async def test_different_subs_are_different_users(client: Actor, freelancer: Actor) -> None:
    assert await client.user_id() != await freelancer.user_id()


# --------------------------------------------------------------------------- contracts


async def test_contracts_are_newest_first_for_both_parties(
    client: Actor, freelancer: Actor, outsider: Actor
) -> None:
    first = await create_contract(client, freelancer, title="First")
    second = await create_contract(client, freelancer, title="Second")
    third = await create_contract(client, freelancer, title="Third")

    as_client = await contracts_of(client)
    as_freelancer = await contracts_of(freelancer)

    assert ids(as_client) == [third["id"], second["id"], first["id"]]
    assert ids(as_freelancer) == ids(as_client)
    assert {edge["node"]["viewerRole"] for edge in as_client["edges"]} == {"CLIENT"}
    assert {edge["node"]["viewerRole"] for edge in as_freelancer["edges"]} == {"FREELANCER"}
    assert (await contracts_of(outsider))["edges"] == []


async def test_contracts_list_only_the_viewers_contracts(
    client: Actor, freelancer: Actor, outsider: Actor
) -> None:
    mine = await create_contract(client, freelancer)
    theirs = await create_contract(outsider, freelancer)

    assert ids(await contracts_of(client)) == [mine["id"]]
    assert ids(await contracts_of(outsider)) == [theirs["id"]]
    assert ids(await contracts_of(freelancer)) == [theirs["id"], mine["id"]]


async def test_contracts_filter_by_status(client: Actor, freelancer: Actor) -> None:
    ended = await create_contract_with_milestones(client, freelancer, title="Ended")
    active = await create_contract(client, freelancer, title="Active")
    await ended.end()

    assert ids(await contracts_of(client, status="ENDED")) == [ended.contract_id]
    assert ids(await contracts_of(client, status="ACTIVE")) == [active["id"]]
    assert ids(await contracts_of(client)) == [active["id"], ended.contract_id]


async def test_contracts_paginate_with_first_and_after(client: Actor, freelancer: Actor) -> None:
    created = [
        (await create_contract(client, freelancer, title=f"Contract {n}"))["id"] for n in range(5)
    ]
    newest_first = created[::-1]

    page_one = await contracts_of(client, first=2)
    assert ids(page_one) == newest_first[:2]
    assert page_one["pageInfo"]["hasNextPage"] is True
    page_two = await contracts_of(client, first=2, after=page_one["pageInfo"]["endCursor"])
    assert ids(page_two) == newest_first[2:4]
    assert page_two["pageInfo"]["hasNextPage"] is True
    page_three = await contracts_of(client, first=2, after=page_two["pageInfo"]["endCursor"])
    assert ids(page_three) == newest_first[4:]
    assert page_three["pageInfo"]["hasNextPage"] is False
    for page in (page_one, page_two, page_three):
        assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]


async def test_contracts_first_defaults_to_20(client: Actor, freelancer: Actor) -> None:
    for n in range(21):
        await create_contract(client, freelancer, title=f"Contract {n}")

    page = await contracts_of(client)

    assert len(page["edges"]) == 20
    assert page["pageInfo"]["hasNextPage"] is True
    assert len((await contracts_of(client, first=100))["edges"]) == 21


@pytest.mark.parametrize(
    "query",
    [
        "{ contracts(first: 101) { edges { cursor } } }",
        "{ notifications(first: 101) { edges { cursor } } }",
        "query($id: ID!) { contract(id: $id) { events(first: 101) { edges { cursor } } } }",
        "query($id: ID!) { contract(id: $id) { changeRequests(first: 101) { edges { cursor } } } }",
    ],
)
async def test_first_above_100_is_a_validation_error(
    client: Actor, freelancer: Actor, query: str
) -> None:
    contract = await create_contract(client, freelancer)
    body = await client.post(query, {"id": contract["id"]} if "$id" in query else None)
    assert "VALIDATION" in graphql_error_codes(body), body


async def test_first_of_100_is_allowed(client: Actor, freelancer: Actor) -> None:
    contract = await create_contract(client, freelancer)
    data = await client.gql(
        "query($id: ID!) { contracts(first: 100) { edges { cursor } }"
        " notifications(first: 100) { edges { cursor } }"
        " contract(id: $id) { events(first: 100) { edges { cursor } }"
        " changeRequests(first: 100) { edges { cursor } } } }",
        {"id": contract["id"]},
    )
    assert len(data["contracts"]["edges"]) == 1
    assert len(data["contract"]["events"]["edges"]) == 2  # offered, accepted


# --------------------------------------------------------------------------- contract


async def test_contract_is_null_for_outsider(
    client: Actor, freelancer: Actor, outsider: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    assert await read_contract(outsider, room.contract_id) is None
    assert await read_contract(client, room.contract_id) is not None


async def test_contract_is_null_for_unknown_and_malformed_ids(
    client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    for bad_id in [missing_id("Contract"), room.milestone(0)]:
        assert await read_contract(client, bad_id) is None
    body = await client.post("query($id: ID!) { contract(id: $id) { id } }", {"id": MALFORMED_ID})
    assert (body.get("data") or {}).get("contract") is None


# --------------------------------------------------------------------------- node


async def node_typename(actor: Actor, node_id: str) -> str | None:
    data = await actor.gql(NODE_QUERY, {"id": node_id})
    node = data["node"]
    if node is None:
        return None
    assert node["id"] == node_id
    typename: str = node["__typename"]
    return typename


async def test_node_resolves_every_type_for_parties_and_nothing_for_outsiders(
    client: Actor, freelancer: Actor, outsider: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00", "50.00"])
    await room.activate(0)
    change_request_id = await pending_change_request(room)
    refund_request_id = await pending_refund_request(room)
    expected = {
        room.contract_id: "Contract",
        room.milestone(0): "Milestone",
        change_request_id: "ChangeRequest",
        refund_request_id: "RefundRequest",
    }
    for node_id, typename in expected.items():
        assert await node_typename(client, node_id) == typename
        assert await node_typename(freelancer, node_id) == typename
        assert await node_typename(outsider, node_id) is None


async def test_node_resolves_users(client: Actor, freelancer: Actor) -> None:
    freelancer_id = await freelancer.user_id()
    assert await node_typename(freelancer, freelancer_id) == "User"
    await create_contract(client, freelancer)
    assert await node_typename(client, freelancer_id) == "User"


async def test_node_resolves_events_and_notifications_for_their_viewers(
    client: Actor, freelancer: Actor, outsider: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    event_id = (await room.read())["events"]["edges"][0]["node"]["id"]
    (notification, *_) = await notification_nodes(freelancer)

    assert await node_typename(client, event_id) == "ContractEvent"
    assert await node_typename(outsider, event_id) is None
    assert await node_typename(freelancer, notification["id"]) == "Notification"
    assert await node_typename(client, notification["id"]) is None
    assert await node_typename(outsider, notification["id"]) is None


async def test_node_is_null_for_unknown_ids(client: Actor) -> None:
    for node_id in [missing_id("Contract"), missing_id("Milestone"), missing_id("Nonsense")]:
        assert await node_typename(client, node_id) is None


async def test_node_fields_match_contract_fields(client: Actor, freelancer: Actor) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    data = await client.gql(
        "query($id: ID!) { node(id: $id) { ... on Milestone { id title amount position"
        " contract { id } } } }",
        {"id": room.milestone(0)},
    )
    assert data["node"] == {
        "id": room.milestone(0),
        "title": "M1",
        "amount": "100.00",
        "position": 1,
        "contract": {"id": room.contract_id},
    }


async def test_contracts_on_both_sides_interleave_newest_first(
    client: Actor, freelancer: Actor, outsider: Actor
) -> None:
    # The freelancer works for two clients and hires the outsider: both sides, merged by age.
    made: list[tuple[str, str]] = []  # (id, the freelancer's role)
    for n in range(7):
        if n % 3 == 0:
            made.append(((await create_contract(client, freelancer))["id"], "FREELANCER"))
        elif n % 3 == 1:
            made.append(((await create_contract(freelancer, outsider))["id"], "CLIENT"))
        else:
            made.append(((await create_contract(outsider, freelancer))["id"], "FREELANCER"))
    newest_first = made[::-1]

    seen: list[tuple[str, str]] = []
    after = None
    while True:
        page = await contracts_of(freelancer, first=3, after=after)
        seen.extend((edge["node"]["id"], edge["node"]["viewerRole"]) for edge in page["edges"])
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == newest_first
    outsiders = [pk for n, (pk, _) in enumerate(made) if n % 3 != 0][::-1]
    assert ids(await contracts_of(outsider)) == outsiders
    assert ids(await contracts_of(outsider, first=2, status="ACTIVE")) == outsiders[:2]
