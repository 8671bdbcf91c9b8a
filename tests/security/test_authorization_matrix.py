"""Who may do what: every root query field and every mutation, for the client, the freelancer,
an outsider, a mediator (on a room they cannot see: no dispute of it went to mediation), a
watching mediator (on a room an earlier dispute took to mediation: read-only) and an anonymous
caller, against the outcome the contract expects; and the same on an offer (OFFERED, not
accepted yet), where the freelancer is named by id or by email (no mediator watches an offer).

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
from tests.api.test_submissions import submissions, upload
from tests.helpers import (
    MUTATIONS,
    Room,
    add_team_member,
    create_contract_with_milestones,
    create_team,
    graphql_error_codes,
    notification_nodes,
    offer_contract,
    ok,
    pending_change_request,
    pending_refund_request,
)

OK: Final = "OK"
NULL: Final = "NULL"
EMPTY: Final = "EMPTY"
FORBIDDEN: Final = "FORBIDDEN"
NOT_FOUND: Final = "NOT_FOUND"
UNAUTHENTICATED: Final = "UNAUTHENTICATED"
ROLES: Final = ("client", "freelancer", "outsider", "mediator", "watching", "anonymous")

SCHEMA = build_schema()
QUERY_FIELDS = sorted(SCHEMA._schema.query_type.fields)  # type: ignore[union-attr]
MUTATION_FIELDS = sorted(SCHEMA._schema.mutation_type.fields)  # type: ignore[union-attr]


def row(
    client: str,
    freelancer: str,
    outsider: str,
    mediator: str | None = None,
    watching: str = FORBIDDEN,
) -> dict[str, str]:
    """A mediator who cannot see the room is an outsider; one watching it acts on nothing."""
    return {"client": client, "freelancer": freelancer, "outsider": outsider,
            "mediator": outsider if mediator is None else mediator, "watching": watching,
            "anonymous": UNAUTHENTICATED}  # fmt: skip


CLIENT_ONLY = row(OK, FORBIDDEN, NOT_FOUND)
FREELANCER_ONLY = row(FORBIDDEN, OK, NOT_FOUND)

MATRIX: Final[dict[str, dict[str, str]]] = {
    # queries
    "node": row(OK, OK, NULL, watching=OK),
    "me": row(OK, OK, OK, watching=OK),
    # the viewer's own contracts: a mediator is party to none
    "contracts": row(OK, OK, EMPTY, watching=EMPTY),
    "contract": row(OK, OK, NULL, watching=OK),
    # mediators were told of the watched room's escalation (their own notifications)
    "notifications": row(OK, OK, EMPTY, mediator=OK, watching=OK),
    # the parties' own disputes (the watched room's, decided by a mediator), which every
    # mediator sees as well; an outsider's list is empty
    "disputes": row(OK, OK, EMPTY, mediator=OK, watching=OK),
    # mutations
    "createContract": row(OK, OK, OK, watching=OK),
    # on an offer: the freelancer party answers it (no mediator watches an offer)
    "acceptContract": row(FORBIDDEN, OK, NOT_FOUND, watching=NOT_FOUND),
    "declineContract": row(FORBIDDEN, OK, NOT_FOUND, watching=NOT_FOUND),
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
    "openDispute": FREELANCER_ONLY,
    "respondToDispute": CLIENT_ONLY,
    # the setup takes the dispute to mediation: every mediator sees it, and only they decide
    "resolveDispute": row(FORBIDDEN, FORBIDDEN, NOT_FOUND, mediator=OK, watching=OK),
    "sendBonus": CLIENT_ONLY,
    "requestMilestoneChanges": FREELANCER_ONLY,
    "respondToChangeRequest": CLIENT_ONLY,
    "withdrawChangeRequest": FREELANCER_ONLY,
    # the client's own notification: anyone else's ids are NOT_FOUND
    "markNotificationsRead": row(OK, NOT_FOUND, NOT_FOUND, watching=NOT_FOUND),
    # everyone's own settings: nobody else's can be named
    "updateNotificationSettings": row(OK, OK, OK, watching=OK),
    # on the room's contract: whoever sees it may have their own notifications of it sent
    # (a watching mediator too: it changes nothing of the room); an endpoint is its owner's
    "createWebhookEndpoint": row(OK, OK, NOT_FOUND, watching=OK),
    "updateWebhookEndpoint": row(OK, NOT_FOUND, NOT_FOUND, watching=NOT_FOUND),
    "deleteWebhookEndpoint": row(OK, NOT_FOUND, NOT_FOUND, watching=NOT_FOUND),
    # the client's team, where the freelancer is a MEMBER: anyone may start a team; its
    # OWNER manages it, a MEMBER may not, someone not in it does not find it
    "createTeam": row(OK, OK, OK, watching=OK),
    "addTeamMember": row(OK, FORBIDDEN, NOT_FOUND, watching=NOT_FOUND),
    "changeTeamMemberRole": row(OK, FORBIDDEN, NOT_FOUND, watching=NOT_FOUND),
    "removeTeamMember": row(OK, FORBIDDEN, NOT_FOUND, watching=NOT_FOUND),
}


def test_the_matrix_covers_the_whole_schema() -> None:
    assert set(MATRIX) == {*QUERY_FIELDS, *MUTATION_FIELDS}
    assert set(MUTATION_FIELDS) <= set(MUTATIONS), "tests/helpers.py has no document for one"
    for field, outcomes in MATRIX.items():
        assert set(outcomes) == set(ROLES), field


# --- the state each operation is tried in: one where its rightful party succeeds ----------

Setup = Callable[[Room, Any], Awaitable[dict[str, Any]]]


def _mediator(api: Any) -> Any:
    return api.actor("mediator", name="Mia Mediator", roles=("mediator",))


async def _room(api: Any, *, mediated: bool = False) -> Room:
    """M1 (100.00) and M2 (200.00), upcoming. `mediated`: an earlier milestone's dispute went
    to mediation and a mediator decided it (all released): every mediator sees the room."""
    client = api.actor("client", name="Cleo Client", email="cleo@example.com")
    freelancer = api.actor("freelancer", name="Fred Freelancer", email="fred@example.com")
    if not mediated:
        return await create_contract_with_milestones(client, freelancer, ["100.00", "200.00"])
    room = await create_contract_with_milestones(client, freelancer, ["50.00", "100.00", "200.00"])
    await room.activate(0)
    await room.submit(0)
    opened = await room.open_dispute(milestoneId=room.milestone(0))
    await room.respond_to_dispute(opened["dispute"]["id"], "REJECT")
    await ok(
        _mediator(api),
        "resolveDispute",
        {"disputeId": opened["dispute"]["id"], "releaseAmount": "50.00"},
    )
    room.milestone_ids = room.milestone_ids[1:]
    return room


async def _active(room: Room) -> str:
    await room.activate(0)
    return room.milestone(0)


async def _create(room: Room, api: Any) -> dict[str, Any]:
    other = api.actor("someone-else")
    return {"title": "Another job", "freelancerId": await other.user_id()}


async def _offer(room: Room, api: Any) -> dict[str, Any]:
    offer = await offer_contract(room.client, room.freelancer, title="Another job")
    return {"contractId": offer["id"]}


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


async def _dispute_awaiting_client(room: Room, api: Any) -> dict[str, Any]:
    await _submitted(room, api)
    opened = await room.open_dispute(milestoneId=room.milestone(0))
    return {"disputeId": opened["dispute"]["id"], "decision": "ACCEPT"}


async def _dispute_in_mediation(room: Room, api: Any) -> dict[str, Any]:
    dispute_id = (await _dispute_awaiting_client(room, api))["disputeId"]
    await room.respond_to_dispute(dispute_id, "REJECT")
    return {"disputeId": dispute_id, "releaseAmount": "40.00"}


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


async def _clients_team(room: Room, api: Any) -> str:
    """A team of the client's (OWNER) where the freelancer is a MEMBER."""
    team_id = await create_team(room.client, "Cleo's company")
    await add_team_member(room.client, team_id, "fred@example.com", "MEMBER")
    return team_id


async def _new_team(room: Room, api: Any) -> dict[str, Any]:
    return {"name": "A team"}


async def _add_member(room: Room, api: Any) -> dict[str, Any]:
    return {"teamId": await _clients_team(room, api), "email": "x@example.com", "role": "ADMIN"}


async def _change_role(room: Room, api: Any) -> dict[str, Any]:
    return {"teamId": await _clients_team(room, api), "email": "fred@example.com", "role": "ADMIN"}


async def _remove_member(room: Room, api: Any) -> dict[str, Any]:
    return {"teamId": await _clients_team(room, api), "email": "fred@example.com"}


MUTATION_SETUPS: Final[dict[str, Setup]] = {
    "createContract": _create,
    "acceptContract": _offer,
    "declineContract": _offer,
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
    "openDispute": _submitted,
    "respondToDispute": _dispute_awaiting_client,
    "resolveDispute": _dispute_in_mediation,
    "sendBonus": _bonus,
    "requestMilestoneChanges": _changes,
    "respondToChangeRequest": _respond_to_changes,
    "withdrawChangeRequest": _withdraw,
    "markNotificationsRead": _clients_notification,
    "updateNotificationSettings": _own_settings,
    "createWebhookEndpoint": _new_endpoint,
    "updateWebhookEndpoint": _change_endpoint,
    "deleteWebhookEndpoint": _endpoint,
    "createTeam": _new_team,
    "addTeamMember": _add_member,
    "changeTeamMemberRole": _change_role,
    "removeTeamMember": _remove_member,
}

QUERIES: Final[dict[str, str]] = {
    "node": "query ($id: ID!) { result: node(id: $id) { id } }",
    "me": "{ result: me { id } }",
    "contracts": "{ result: contracts { edges { node { id } } } }",
    "contract": "query ($id: ID!) { result: contract(id: $id) { id } }",
    "notifications": "{ result: notifications { edges { node { id } } } }",
    "disputes": "{ result: disputes { edges { node { id } } } }",
}


def _actor(room: Room, api: Any, role: str) -> Any:
    if role == "anonymous":
        return api.anonymous
    if role == "outsider":
        return api.actor("outsider")
    if role in ("mediator", "watching"):
        return _mediator(api)
    return room.client if role == "client" else room.freelancer


@pytest.mark.parametrize("mutation", MUTATION_FIELDS)
async def test_mutation_authorization(api: Any, mutation: str) -> None:
    await api.actor("outsider").user_id()  # the outsider exists: NOT_FOUND is about the object
    await _mediator(api).user_id()
    outcomes = {}
    for role in ROLES:
        # A fresh contract each time: a success changes the state.
        room = await _room(api, mediated=role == "watching")
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
    await _mediator(api).user_id()
    plain, watched = await _room(api), await _room(api, mediated=True)
    for room in (plain, watched):
        await pending_change_request(room)  # a notification for the client
        await room.end(room.client)  # ... and one for the freelancer
    outcomes = {}
    for role in ROLES:
        room = watched if role == "watching" else plain
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
                       "WebhookDelivery", "Dispute", "Team", "Submission",
                       "Attachment")  # fmt: skip


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
    submitted = await upload(room.freelancer, room.milestone(0), [("a.txt", b"abc", "text/plain")])
    assert submitted.status_code == 200, submitted.text
    (submission,) = await submissions(room.client, room.milestone(0))
    refund = await pending_refund_request(room)
    dispute = (await room.open_dispute(refundRequestId=refund))["dispute"]["id"]
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
        "Dispute": dispute,
        "Team": await _clients_team(room, api),
        "Submission": submission["id"],
        "Attachment": submission["attachments"][0]["id"],
    }
    outsider = api.actor("outsider")
    mediator = _mediator(api)  # no dispute of the room went to mediation: an outsider too
    query = "query ($id: ID!) { node(id: $id) { id } }"
    for type_name in NODE_SAMPLES:
        owner = room.freelancer if type_name == "Notification" else room.client
        if type_name in ("WebhookEndpoint", "WebhookDelivery"):  # the client's own
            assert (await room.freelancer.gql(query, {"id": samples[type_name]}))["node"] is None
        assert (await owner.gql(query, {"id": samples[type_name]}))["node"], type_name
        assert (await outsider.gql(query, {"id": samples[type_name]}))["node"] is None, type_name
        assert (await mediator.gql(query, {"id": samples[type_name]}))["node"] is None, type_name


# --- on an offer --------------------------------------------------------------------------

NOT_ACCEPTED: Final = "CONTRACT_NOT_ACCEPTED"

# What each party may do while the contract is OFFERED (the rest of the matrix above is on an
# accepted contract). The freelancer is named by id ("by id") or by the email of their token
# ("by email", the offer matched at their first sign-in after it was made).
OFFER_MATRIX: Final[dict[str, dict[str, str]]] = {
    "contract": row(OK, OK, NULL),
    "addMilestone": CLIENT_ONLY,
    "editMilestone": CLIENT_ONLY,
    "deleteMilestone": CLIENT_ONLY,
    "activateMilestone": row(NOT_ACCEPTED, FORBIDDEN, NOT_FOUND),
    "sendBonus": row(NOT_ACCEPTED, FORBIDDEN, NOT_FOUND),
    "requestMilestoneChanges": row(FORBIDDEN, NOT_ACCEPTED, NOT_FOUND),
    "endContract": row(OK, NOT_ACCEPTED, NOT_FOUND),
    "acceptContract": row(FORBIDDEN, OK, NOT_FOUND),
    "declineContract": row(FORBIDDEN, OK, NOT_FOUND),
}

OFFER_INPUTS: Final[dict[str, Callable[[str, str], dict[str, Any]]]] = {
    "addMilestone": lambda c, m: {"contractId": c, "title": "More", "amount": "10.00"},
    "editMilestone": lambda c, m: {"milestoneId": m, "title": "Renamed"},
    "deleteMilestone": lambda c, m: {"milestoneId": m},
    "activateMilestone": lambda c, m: {"milestoneId": m},
    "sendBonus": lambda c, m: {"contractId": c, "amount": "25.00"},
    "requestMilestoneChanges": lambda c, m: {
        "contractId": c,
        "changes": [{"kind": "ADD", "title": "X", "amount": "5"}],
    },
    "endContract": lambda c, m: {"contractId": c},
    "acceptContract": lambda c, m: {"contractId": c},
    "declineContract": lambda c, m: {"contractId": c},
}


async def _offer_room(api: Any, by_email: bool, number: int) -> Room:
    client = api.actor("client", name="Cleo Client", email="cleo@example.com")
    email = f"fred{number}@example.com"
    freelancer = api.actor(f"freelancer-{number}", name="Fred", email=email)
    if by_email:
        offer = await offer_contract(client, email=email.upper())
    else:
        offer = await offer_contract(client, freelancer)
    room = Room(client, freelancer, offer["id"], [])
    room.milestone_ids.append((await room.add("M1", "100.00"))["milestone"]["id"])
    return room


@pytest.mark.parametrize("by_email", [False, True], ids=["by id", "by email"])
@pytest.mark.parametrize("operation", sorted(OFFER_MATRIX))
async def test_offer_authorization(api: Any, operation: str, by_email: bool) -> None:
    await api.actor("outsider", email="olga@example.com").user_id()
    outcomes = {}
    # No dispute of an offer ever went to mediation: no mediator watches it.
    for number, role in enumerate(role for role in ROLES if role != "watching"):
        room = await _offer_room(api, by_email, number)
        actor = _actor(room, api, role)
        if operation == "contract":
            body = await actor.post(QUERIES["contract"], {"id": room.contract_id})
            outcomes[role] = _query_outcome(body)
            continue
        input = OFFER_INPUTS[operation](room.contract_id, room.milestone(0))
        body = await actor.post(MUTATIONS[operation], {"input": input})
        outcomes[role] = _mutation_outcome(operation, body)
    expected = {role: outcome for role, outcome in OFFER_MATRIX[operation].items()}
    del expected["watching"]
    assert outcomes == expected
