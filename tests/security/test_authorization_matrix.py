"""Who may do what: every root query field and every mutation, for the client, the freelancer,
an outsider and an anonymous caller, against the outcome the contract expects.

The matrix is checked against the schema: a new query field or mutation without a row here
fails `test_the_matrix_covers_the_whole_schema`, and the cases themselves are generated from
the schema's fields, so nothing can be added without saying who may use it.

Outcomes: OK (allowed: the payload has its object and no userErrors; a query answers), a
userError code (FORBIDDEN, NOT_FOUND), UNAUTHENTICATED (a GraphQL error), NULL (a query answers
null: the object is not theirs), EMPTY (a list query answers no items).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final

import pytest

from milestones.schema.root import build_schema
from tests.helpers import (
    MUTATIONS,
    Room,
    create_contract_with_milestones,
    graphql_error_codes,
    notification_nodes,
    pending_change_request,
    pending_refund_request,
)

OK: Final = "OK"
NULL: Final = "NULL"
EMPTY: Final = "EMPTY"
FORBIDDEN: Final = "FORBIDDEN"
NOT_FOUND: Final = "NOT_FOUND"
UNAUTHENTICATED: Final = "UNAUTHENTICATED"
ROLES: Final = ("client", "freelancer", "outsider", "anonymous")

SCHEMA = build_schema()
QUERY_FIELDS = sorted(SCHEMA._schema.query_type.fields)  # type: ignore[union-attr]
MUTATION_FIELDS = sorted(SCHEMA._schema.mutation_type.fields)  # type: ignore[union-attr]


def row(client: str, freelancer: str, outsider: str) -> dict[str, str]:
    return {"client": client, "freelancer": freelancer, "outsider": outsider,
            "anonymous": UNAUTHENTICATED}  # fmt: skip


CLIENT_ONLY = row(OK, FORBIDDEN, NOT_FOUND)
FREELANCER_ONLY = row(FORBIDDEN, OK, NOT_FOUND)

MATRIX: Final[dict[str, dict[str, str]]] = {
    # queries
    "node": row(OK, OK, NULL),
    "me": row(OK, OK, OK),
    "contracts": row(OK, OK, EMPTY),
    "contract": row(OK, OK, NULL),
    "notifications": row(OK, OK, EMPTY),
    # mutations
    "createContract": row(OK, OK, OK),
    "addMilestone": CLIENT_ONLY,
    "editMilestone": CLIENT_ONLY,
    "deleteMilestone": CLIENT_ONLY,
    "activateMilestone": CLIENT_ONLY,
    "submitMilestone": FREELANCER_ONLY,
    "rejectSubmission": CLIENT_ONLY,
    "approveMilestone": CLIENT_ONLY,
    "requestEscrowRefund": CLIENT_ONLY,
    "respondToRefundRequest": FREELANCER_ONLY,
    "endContract": row(OK, OK, NOT_FOUND),
    "sendBonus": CLIENT_ONLY,
    "requestMilestoneChanges": FREELANCER_ONLY,
    "respondToChangeRequest": CLIENT_ONLY,
    "withdrawChangeRequest": FREELANCER_ONLY,
    # the client's own notification: anyone else's ids are NOT_FOUND
    "markNotificationsRead": row(OK, NOT_FOUND, NOT_FOUND),
    # everyone's own settings: nobody else's can be named
    "updateNotificationSettings": row(OK, OK, OK),
    # on the room's contract: any party may; an endpoint is its owner's (the client's) alone
    "createWebhookEndpoint": row(OK, OK, NOT_FOUND),
    "updateWebhookEndpoint": row(OK, NOT_FOUND, NOT_FOUND),
    "deleteWebhookEndpoint": row(OK, NOT_FOUND, NOT_FOUND),
}


def test_the_matrix_covers_the_whole_schema() -> None:
    assert set(MATRIX) == {*QUERY_FIELDS, *MUTATION_FIELDS}
    assert set(MUTATION_FIELDS) <= set(MUTATIONS), "tests/helpers.py has no document for one"
    for field, outcomes in MATRIX.items():
        assert set(outcomes) == set(ROLES), field


# --- the state each operation is tried in: one where its rightful party succeeds ----------

Setup = Callable[[Room, Any], Awaitable[dict[str, Any]]]


async def _room(api: Any) -> Room:
    client = api.actor("client", name="Cleo Client", email="cleo@example.com")
    freelancer = api.actor("freelancer", name="Fred Freelancer")
    return await create_contract_with_milestones(client, freelancer, ["100.00", "200.00"])


async def _active(room: Room) -> str:
    await room.activate(0)
    return room.milestone(0)


async def _create(room: Room, api: Any) -> dict[str, Any]:
    other = api.actor("someone-else")
    return {"title": "Another job", "freelancerId": await other.user_id()}


async def _add(room: Room, api: Any) -> dict[str, Any]:
    return {"contractId": room.contract_id, "title": "More", "amount": "10.00"}


async def _edit(room: Room, api: Any) -> dict[str, Any]:
    return {"milestoneId": room.milestone(1), "title": "Renamed"}


async def _upcoming(room: Room, api: Any) -> dict[str, Any]:
    return {"milestoneId": room.milestone(1)}


async def _active_milestone(room: Room, api: Any) -> dict[str, Any]:
    return {"milestoneId": await _active(room)}


async def _submitted(room: Room, api: Any) -> dict[str, Any]:
    await _active(room)
    await room.submit(0)
    return {"milestoneId": room.milestone(0)}


async def _approve(room: Room, api: Any) -> dict[str, Any]:
    return {"milestoneId": await _active(room), "endContract": False}


async def _refund_request(room: Room, api: Any) -> dict[str, Any]:
    await _active(room)
    return {"refundRequestId": await pending_refund_request(room), "decision": "ACCEPT"}


async def _contract(room: Room, api: Any) -> dict[str, Any]:
    return {"contractId": room.contract_id}


async def _bonus(room: Room, api: Any) -> dict[str, Any]:
    return {"contractId": room.contract_id, "amount": "25.00"}


async def _changes(room: Room, api: Any) -> dict[str, Any]:
    return {
        "contractId": room.contract_id,
        "changes": [{"kind": "ADD", "title": "X", "amount": "5"}],
    }


async def _respond_to_changes(room: Room, api: Any) -> dict[str, Any]:
    return {"changeRequestId": await pending_change_request(room), "decision": "ACCEPT"}


async def _withdraw(room: Room, api: Any) -> dict[str, Any]:
    return {"changeRequestId": await pending_change_request(room)}


async def _clients_notification(room: Room, api: Any) -> dict[str, Any]:
    await pending_change_request(room)  # notifies the client
    newest = (await notification_nodes(room.client))[0]
    return {"ids": [newest["id"]]}


# A closed port: deliveries are written and fail, nothing is listening.
HOOK_URL: Final = "http://127.0.0.1:9/hooks"


async def _new_endpoint(room: Room, api: Any) -> dict[str, Any]:
    return {"url": HOOK_URL, "kinds": ["MILESTONE_ADDED"], "contractId": room.contract_id}


async def _clients_endpoint(room: Room, api: Any, kinds: list[str] | None = None) -> str:
    body = await room.client.post(
        MUTATIONS["createWebhookEndpoint"],
        {"input": {**await _new_endpoint(room, api), "kinds": kinds or ["MILESTONE_ADDED"]}},
    )
    endpoint_id: str = body["data"]["createWebhookEndpoint"]["webhookEndpoint"]["id"]
    return endpoint_id


async def _own_settings(room: Room, api: Any) -> dict[str, Any]:
    return {"mutedEmailKinds": ["MILESTONE_ADDED"]}


async def _change_endpoint(room: Room, api: Any) -> dict[str, Any]:
    return {"id": await _clients_endpoint(room, api), "kinds": ["CONTRACT_ENDED"]}


async def _endpoint(room: Room, api: Any) -> dict[str, Any]:
    return {"id": await _clients_endpoint(room, api)}


MUTATION_SETUPS: Final[dict[str, Setup]] = {
    "createContract": _create,
    "addMilestone": _add,
    "editMilestone": _edit,
    "deleteMilestone": _upcoming,
    "activateMilestone": _upcoming,
    "submitMilestone": _active_milestone,
    "rejectSubmission": _submitted,
    "approveMilestone": _approve,
    "requestEscrowRefund": _active_milestone,
    "respondToRefundRequest": _refund_request,
    "endContract": _contract,
    "sendBonus": _bonus,
    "requestMilestoneChanges": _changes,
    "respondToChangeRequest": _respond_to_changes,
    "withdrawChangeRequest": _withdraw,
    "markNotificationsRead": _clients_notification,
    "updateNotificationSettings": _own_settings,
    "createWebhookEndpoint": _new_endpoint,
    "updateWebhookEndpoint": _change_endpoint,
    "deleteWebhookEndpoint": _endpoint,
}

QUERIES: Final[dict[str, str]] = {
    "node": "query ($id: ID!) { result: node(id: $id) { id } }",
    "me": "{ result: me { id } }",
    "contracts": "{ result: contracts { edges { node { id } } } }",
    "contract": "query ($id: ID!) { result: contract(id: $id) { id } }",
    "notifications": "{ result: notifications { edges { node { id } } } }",
}


def _actor(room: Room, api: Any, role: str) -> Any:
    if role == "anonymous":
        return api.anonymous
    if role == "outsider":
        return api.actor("outsider")
    return room.client if role == "client" else room.freelancer


@pytest.mark.parametrize("mutation", MUTATION_FIELDS)
async def test_mutation_authorization(api: Any, mutation: str) -> None:
    await api.actor("outsider").user_id()  # the outsider exists: NOT_FOUND is about the object
    outcomes = {}
    for role in ROLES:
        room = await _room(api)  # a fresh contract each time: a success changes the state
        input = await MUTATION_SETUPS[mutation](room, api)
        body = await _actor(room, api, role).post(MUTATIONS[mutation], {"input": input})
        outcomes[role] = _mutation_outcome(mutation, body)
    assert outcomes == MATRIX[mutation]


def _mutation_outcome(mutation: str, body: dict[str, Any]) -> str:
    if body.get("errors"):
        assert body["data"] is None, body
        [code] = graphql_error_codes(body)
        return str(code)
    payload = body["data"][mutation]
    codes = [error["code"] for error in payload["userErrors"]]
    if codes:
        [code] = codes
        assert all(value is None for key, value in payload.items() if key != "userErrors")
        return str(code)
    assert any(value for key, value in payload.items() if key != "userErrors"), payload
    return OK


@pytest.mark.parametrize("query", QUERY_FIELDS)
async def test_query_authorization(api: Any, query: str) -> None:
    room = await _room(api)
    await pending_change_request(room)  # a notification for the client
    await room.end(room.client)  # ... and one for the freelancer
    outcomes = {}
    for role in ROLES:
        body = await _actor(room, api, role).post(QUERIES[query], {"id": room.contract_id})
        outcomes[role] = _query_outcome(body)
    assert outcomes == MATRIX[query]


def _query_outcome(body: dict[str, Any]) -> str:
    if body.get("errors"):
        [code] = graphql_error_codes(body)
        return str(code)
    result = body["data"]["result"]
    if result is None:
        return NULL
    if result.get("edges") == []:
        return EMPTY
    return OK


NODE_SAMPLES: Final = ("Contract", "Milestone", "ChangeRequest", "RefundRequest",
                       "ContractEvent", "Notification", "User", "WebhookEndpoint",
                       "WebhookDelivery")  # fmt: skip


def test_every_node_type_has_a_sample() -> None:
    implementations = {
        type_.name
        for type_ in SCHEMA._schema.type_map.values()
        if any(interface.name == "Node" for interface in getattr(type_, "interfaces", ()))
    }
    assert implementations == set(NODE_SAMPLES)


async def test_outsiders_see_no_node_of_a_contract(api: Any) -> None:
    room = await _room(api)
    endpoint = await _clients_endpoint(room, api, kinds=["CHANGE_REQUEST_SUBMITTED"])
    await _active(room)
    refund = await pending_refund_request(room)
    change_request = await pending_change_request(room)  # a webhook delivery for the client
    deliveries = await room.client.gql(
        "query ($id: ID!) { node(id: $id) { ... on WebhookEndpoint {"
        " deliveries { edges { node { id } } } } } }",
        {"id": endpoint},
    )
    read = await room.read()
    notification = (await notification_nodes(room.freelancer))[0]
    samples = {
        "Contract": room.contract_id,
        "Milestone": room.milestone(0),
        "ChangeRequest": change_request,
        "RefundRequest": refund,
        "ContractEvent": read["events"]["edges"][0]["node"]["id"],
        "Notification": notification["id"],
        "User": read["client"]["id"],
        "WebhookEndpoint": endpoint,
        "WebhookDelivery": deliveries["node"]["deliveries"]["edges"][0]["node"]["id"],
    }
    outsider = api.actor("outsider")
    query = "query ($id: ID!) { node(id: $id) { id } }"
    for type_name in NODE_SAMPLES:
        owner = room.freelancer if type_name == "Notification" else room.client
        if type_name in ("WebhookEndpoint", "WebhookDelivery"):  # the client's own
            assert (await room.freelancer.gql(query, {"id": samples[type_name]}))["node"] is None
        assert (await owner.gql(query, {"id": samples[type_name]}))["node"], type_name
        assert (await outsider.gql(query, {"id": samples[type_name]}))["node"] is None, type_name
