"""GraphQL documents and workflow helpers shared by the HTTP-level API tests.

Everything here talks to the app only through the public contract (`/work/shared/API.md`):
GraphQL over HTTP, with the `Actor` objects the `tests/conftest.py` fixtures hand out.
"""

from __future__ import annotations

import base64
import re
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final, Protocol

import httpx
import jwt

JSON = dict[str, Any]

MONEY: Final = re.compile(r"^\d+\.\d{2}$")
ZERO_ESCROW: Final = {
    "held": "0.00",
    "available": "0.00",
    "totalFunded": "0.00",
    "totalReleased": "0.00",
    "totalRefunded": "0.00",
    "totalBonus": "0.00",
}


class Actor(Protocol):
    """The shape of the `Actor` objects provided by the conftest fixtures."""

    @property
    def sub(self) -> str: ...

    @property
    def token(self) -> str | None: ...

    @property
    def http(self) -> httpx.AsyncClient: ...

    async def post(self, query: str, variables: JSON | None = None) -> JSON: ...

    async def gql(self, query: str, variables: JSON | None = None) -> JSON: ...

    async def user_id(self) -> str: ...


class ApiClient(Protocol):
    """The shape of the `api` fixture."""

    def actor(
        self,
        sub: str,
        name: str | None = None,
        email: str | None = None,
        roles: tuple[str, ...] = (),
    ) -> Actor: ...

    @property
    def anonymous(self) -> Actor: ...

    @property
    def http(self) -> Any: ...

    @property
    def settings(self) -> Any: ...


class _Anything:
    """Sentinel: "do not check this" (distinct from `None`, which is a value to check)."""

    def __repr__(self) -> str:
        return "ANY"


ANY: Final = _Anything()


# --------------------------------------------------------------------------- fragments

MILESTONE_FIELDS: Final = """
fragment MilestoneFields on Milestone {
  id position title description dueDate amount status
  fundedAmount releasedAmount refundedAmount version createdAt updatedAt
  activatedAt submittedAt reviewDeadline releasedAt
}
"""

CHANGE_REQUEST_FIELDS: Final = """
fragment ChangeRequestFields on ChangeRequest {
  id status message createdAt respondedAt responseMessage
  requestedBy { id }
  contract { id }
  changes { kind milestone { id } title description dueDate amount }
}
"""

REFUND_REQUEST_FIELDS: Final = """
fragment RefundRequestFields on RefundRequest {
  id status amount message createdAt respondedAt responseMessage respondBy
  requestedBy { id }
  contract { id }
  milestone { id }
}
"""

TEAM_FIELDS: Final = """
fragment TeamFields on Team {
  id name
  members { email role user { id } }
}
"""

CONTRACT_FIELDS: Final = """
fragment ContractFields on Contract {
  id title currency status viewerRole createdAt acceptedAt endedAt invitedEmail
  client { id }
  freelancer { id }
  clientTeam { id name }
  freelancerTeam { id name }
  milestones { ...MilestoneFields }
  activeMilestone { id status }
  escrow { held available totalFunded totalReleased totalRefunded totalBonus }
  pendingChangeRequest { ...ChangeRequestFields }
  pendingRefundRequest { ...RefundRequestFields }
}
"""

# Not in ALL_FRAGMENTS (a document may not define a fragment it does not use): the dispute
# mutations and the room query add it.
DISPUTE_FIELDS: Final = """
fragment DisputeFields on Dispute {
  id status amount message respondBy responseMessage openedAt resolvedAt
  contract { id }
  milestone { id status }
  refundRequest { id status }
  openedBy { id }
  resolution { kind releasedAmount refundedAmount message decidedBy { id } }
}
"""

ALL_FRAGMENTS: Final = (
    MILESTONE_FIELDS + CHANGE_REQUEST_FIELDS + REFUND_REQUEST_FIELDS + CONTRACT_FIELDS
)

EVENT_FIELDS: Final = """
  id cursor kind occurredAt
  contract { id }
  actor { id }
  milestone { id }
  changeRequest { id }
  refundRequest { id }
"""

NOTIFICATION_FIELDS: Final = """
  id cursor kind message createdAt readAt
  contract { id }
  actor { id }
  milestone { id }
  changeRequest { id }
  refundRequest { id }
"""

# --------------------------------------------------------------------------- mutations

_PAYLOADS: Final[dict[str, tuple[str, str]]] = {
    "createContract": ("CreateContractInput", "contract { ...ContractFields }"),
    "addMilestone": (
        "AddMilestoneInput",
        "milestone { ...MilestoneFields } contract { ...ContractFields }",
    ),
    "editMilestone": (
        "EditMilestoneInput",
        "milestone { ...MilestoneFields } contract { ...ContractFields }",
    ),
    "deleteMilestone": (
        "DeleteMilestoneInput",
        "deletedMilestoneId contract { ...ContractFields }",
    ),
    "activateMilestone": (
        "ActivateMilestoneInput",
        "milestone { ...MilestoneFields } contract { ...ContractFields }",
    ),
    "submitMilestone": (
        "SubmitMilestoneInput",
        "milestone { ...MilestoneFields } contract { ...ContractFields }",
    ),
    "rejectSubmission": (
        "RejectSubmissionInput",
        "milestone { ...MilestoneFields } contract { ...ContractFields }",
    ),
    "approveMilestone": (
        "ApproveMilestoneInput",
        "milestone { ...MilestoneFields } contract { ...ContractFields }",
    ),
    "requestEscrowRefund": (
        "RequestEscrowRefundInput",
        "refundRequest { ...RefundRequestFields } milestone { ...MilestoneFields }"
        " contract { ...ContractFields }",
    ),
    "respondToRefundRequest": (
        "RespondToRefundRequestInput",
        "refundRequest { ...RefundRequestFields } milestone { ...MilestoneFields }"
        " contract { ...ContractFields }",
    ),
    "endContract": ("EndContractInput", "contract { ...ContractFields }"),
    "openDispute": (
        "OpenDisputeInput",
        "dispute { ...DisputeFields } contract { ...ContractFields openDispute { id } }",
    ),
    "respondToDispute": (
        "RespondToDisputeInput",
        "dispute { ...DisputeFields } contract { ...ContractFields openDispute { id } }",
    ),
    "resolveDispute": (
        "ResolveDisputeInput",
        "dispute { ...DisputeFields } contract { ...ContractFields openDispute { id } }",
    ),
    "acceptContract": ("AcceptContractInput", "contract { ...ContractFields }"),
    "declineContract": ("DeclineContractInput", "contract { ...ContractFields }"),
    "sendBonus": ("SendBonusInput", "contract { ...ContractFields }"),
    "requestMilestoneChanges": (
        "RequestMilestoneChangesInput",
        "changeRequest { ...ChangeRequestFields } contract { ...ContractFields }",
    ),
    "respondToChangeRequest": (
        "RespondToChangeRequestInput",
        "changeRequest { ...ChangeRequestFields } contract { ...ContractFields }",
    ),
    "withdrawChangeRequest": (
        "WithdrawChangeRequestInput",
        "changeRequest { ...ChangeRequestFields } contract { ...ContractFields }",
    ),
    "markNotificationsRead": (
        "MarkNotificationsReadInput",
        "count notifications { id readAt } unreadCount",
    ),
    "updateNotificationSettings": (
        "UpdateNotificationSettingsInput",
        "notificationSettings { emailEnabled mutedEmailKinds }",
    ),
    "createWebhookEndpoint": (
        "CreateWebhookEndpointInput",
        "webhookEndpoint { id url kinds contract { id } } secret",
    ),
    "updateWebhookEndpoint": (
        "UpdateWebhookEndpointInput",
        "webhookEndpoint { id url kinds contract { id } }",
    ),
    "deleteWebhookEndpoint": ("DeleteWebhookEndpointInput", "deletedWebhookEndpointId"),
    "createTeam": ("CreateTeamInput", "team { ...TeamFields }"),
    "addTeamMember": ("AddTeamMemberInput", "team { ...TeamFields }"),
    "changeTeamMemberRole": ("ChangeTeamMemberRoleInput", "team { ...TeamFields }"),
    "removeTeamMember": ("RemoveTeamMemberInput", "team { ...TeamFields }"),
}


def mutation_document(name: str) -> str:
    """The document for mutation `name`, selecting its whole payload and `userErrors`."""
    input_type, selection = _PAYLOADS[name]
    operation = name[0].upper() + name[1:]
    document = (
        f"mutation {operation}($input: {input_type}!) {{\n"
        f"  {name}(input: $input) {{ {selection} userErrors {{ code message field }} }}\n"
        "}\n"
    )
    if "...TeamFields" in selection:
        return document + TEAM_FIELDS
    disputes = DISPUTE_FIELDS if "...DisputeFields" in selection else ""
    return document + (ALL_FRAGMENTS if "..." in selection else "") + disputes


MUTATIONS: Final = {name: mutation_document(name) for name in _PAYLOADS}


async def raw_response(actor: Actor, query: str, variables: JSON) -> bytes:
    """The response body exactly as sent (for byte-for-byte comparisons of replays)."""
    response = await actor.http.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {actor.token}"},
    )
    assert response.status_code == 200, response.text
    return response.content


def graphql_error_codes(body: JSON) -> list[str | None]:
    return [(error.get("extensions") or {}).get("code") for error in body.get("errors") or []]


async def mutate(actor: Actor, name: str, input: JSON) -> JSON:
    """Run mutation `name`; return its payload. Asserts there were no GraphQL errors."""
    body = await actor.post(MUTATIONS[name], {"input": input})
    assert not body.get("errors"), f"{name}: GraphQL errors {body['errors']}"
    payload: JSON = body["data"][name]
    return payload


async def ok(actor: Actor, name: str, input: JSON) -> JSON:
    """Run mutation `name` and assert it succeeded (no userErrors); return its payload."""
    payload = await mutate(actor, name, input)
    assert payload["userErrors"] == [], f"{name}({input}) refused: {payload['userErrors']}"
    return payload


def assert_user_errors(
    payload: JSON,
    code: str,
    field: str | _Anything | None = ANY,
) -> None:
    """Exactly one user error with `code` (and `field` unless ANY); acted-on objects are null."""
    errors = payload["userErrors"]
    assert [error["code"] for error in errors] == [code], errors
    assert errors[0]["message"], "a user error has a human-readable message"
    if not isinstance(field, _Anything):
        assert errors[0]["field"] == field, errors
    for key, value in payload.items():
        if key not in ("userErrors", "count"):
            assert value is None, f"{key} must be null on refusal, got {value!r}"


async def refuse(
    actor: Actor,
    name: str,
    input: JSON,
    code: str,
    *,
    field: str | _Anything | None = ANY,
    room: Room | None = None,
) -> JSON:
    """Run mutation `name`, assert it is refused with `code`, and that the room did not change.

    The room (contract, milestones, escrow, requests, events, both parties' notifications) is
    re-read before and after through the client of `room`.
    """
    before = await room.snapshot() if room is not None else None
    payload = await mutate(actor, name, input)
    assert_user_errors(payload, code, field)
    if room is not None:
        after = await room.snapshot()
        assert after == before, "a refusal must change nothing"
    return payload


def user_error_fields(payload: JSON) -> list[str | None]:
    return [error["field"] for error in payload["userErrors"]]


# --------------------------------------------------------------------------- queries

ROOM_QUERY: Final = (
    """
query Room($id: ID!) {
  contract(id: $id) {
    ...ContractFields
    changeRequests(first: 100) {
      edges { cursor node { ...ChangeRequestFields } }
      pageInfo { hasNextPage endCursor }
    }
    events(first: 100) {
      edges { cursor node { """
    + EVENT_FIELDS
    + """ } }
      pageInfo { hasNextPage endCursor }
    }
    openDispute { id }
    disputes(first: 100) { edges { cursor node { ...DisputeFields } } }
  }
}
"""
    + ALL_FRAGMENTS
    + DISPUTE_FIELDS
)

NOTIFICATIONS_QUERY: Final = (
    """
query Notifications($first: Int, $after: String, $unreadOnly: Boolean) {
  notifications(first: $first, after: $after, unreadOnly: $unreadOnly) {
    edges { cursor node { """
    + NOTIFICATION_FIELDS
    + """ } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    unreadCount
  }
}
"""
)

EVENTS_QUERY: Final = (
    """
query Events($id: ID!, $first: Int, $after: String) {
  contract(id: $id) {
    events(first: $first, after: $after) {
      edges { cursor node { """
    + EVENT_FIELDS
    + """ } }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }
}
"""
)

CONTRACTS_QUERY: Final = """
query Contracts($first: Int, $after: String, $status: ContractStatus) {
  contracts(first: $first, after: $after, status: $status) {
    edges { cursor node { id title status viewerRole } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""

CONTRACT_QUERY: Final = (
    "query Contract($id: ID!) { contract(id: $id) { ...ContractFields } }\n" + ALL_FRAGMENTS
)

NODE_QUERY: Final = "query Node($id: ID!) { node(id: $id) { __typename id } }"

ME_QUERY: Final = "query Me { me { id name email } }"


def variables(**values: Any) -> JSON:
    """Variables without the `None` ones, so that argument defaults apply."""
    return {key: value for key, value in values.items() if value is not None}


async def read_contract(actor: Actor, contract_id: str) -> JSON | None:
    data = await actor.gql(CONTRACT_QUERY, {"id": contract_id})
    contract: JSON | None = data["contract"]
    return contract


async def read_room(actor: Actor, contract_id: str) -> JSON:
    """The contract as `actor` sees it, with its change requests and its event log."""
    data = await actor.gql(ROOM_QUERY, {"id": contract_id})
    room: JSON | None = data["contract"]
    assert room is not None, f"{actor.sub} cannot see contract {contract_id}"
    assert not room["events"]["pageInfo"]["hasNextPage"], "more than 100 events in a test"
    return room


def event_kinds(room: JSON) -> list[str]:
    return [edge["node"]["kind"] for edge in room["events"]["edges"]]


def milestone_in(room: JSON, milestone_id: str) -> JSON:
    for milestone in room["milestones"]:
        if milestone["id"] == milestone_id:
            found: JSON = milestone
            return found
    raise AssertionError(f"milestone {milestone_id} not in contract {room['id']}")


def positions(room: JSON) -> list[tuple[int, str]]:
    return [(m["position"], m["title"]) for m in room["milestones"]]


async def notifications(
    actor: Actor,
    *,
    first: int | None = None,
    after: str | None = None,
    unread_only: bool | None = None,
) -> JSON:
    """The `notifications` connection of `actor`."""
    data = await actor.gql(
        NOTIFICATIONS_QUERY, variables(first=first, after=after, unreadOnly=unread_only)
    )
    connection: JSON = data["notifications"]
    return connection


async def notification_nodes(actor: Actor, *, unread_only: bool | None = None) -> list[JSON]:
    connection = await notifications(actor, first=100, unread_only=unread_only)
    assert not connection["pageInfo"]["hasNextPage"], "more than 100 notifications in a test"
    return [edge["node"] for edge in connection["edges"]]


# --------------------------------------------------------------------------- money


def money(value: str) -> Decimal:
    assert isinstance(value, str) and MONEY.fullmatch(value), f"not a two-decimal amount: {value!r}"
    return Decimal(value)


def assert_money_formats(room: JSON) -> None:
    """Every Decimal of the contract is a string with exactly two decimals."""
    for value in room["escrow"].values():
        money(value)
    for milestone in room["milestones"]:
        for key in ("amount", "fundedAmount", "releasedAmount", "refundedAmount"):
            money(milestone[key])


def assert_escrow_consistent(room: JSON) -> None:
    """totalFunded = totalReleased + totalRefunded + held; held = active remainder + available."""
    assert_money_formats(room)
    escrow = room["escrow"]
    held = money(escrow["held"])
    assert money(escrow["totalFunded"]) == (
        money(escrow["totalReleased"]) + money(escrow["totalRefunded"]) + held
    ), escrow
    in_active = sum(
        (
            money(m["fundedAmount"]) - money(m["releasedAmount"]) - money(m["refundedAmount"])
            for m in room["milestones"]
            if m["status"] in ("ACTIVE", "SUBMITTED")
        ),
        Decimal(0),
    )
    assert held == in_active + money(escrow["available"]), escrow
    assert money(escrow["available"]) >= 0, escrow


# --------------------------------------------------------------------------- ids and tokens


def global_id(type_name: str, pk: int | str) -> str:
    return base64.b64encode(f"{type_name}:{pk}".encode()).decode()


def missing_id(type_name: str) -> str:
    """A well-formed global ID of `type_name` that names nothing."""
    return global_id(type_name, 987654321)


MALFORMED_ID: Final = "not-a-global-id"


def jwt_secret(settings: Any) -> str:
    secret = settings.jwt_secret
    if hasattr(secret, "get_secret_value"):
        secret = secret.get_secret_value()
    assert isinstance(secret, str)
    return secret


def make_token(secret: str, *, expires_in: int = 3600, **claims: Any) -> str:
    payload = {"exp": int(time.time()) + expires_in, **claims}
    return jwt.encode(payload, secret, algorithm="HS256")


# --------------------------------------------------------------------------- the room


@dataclass
class Room:
    """A contract between `client` and `freelancer`, with the ids of its milestones."""

    client: Actor
    freelancer: Actor
    contract_id: str
    milestone_ids: list[str]

    def milestone(self, index: int) -> str:
        return self.milestone_ids[index]

    async def read(self, actor: Actor | None = None) -> JSON:
        return await read_room(actor or self.client, self.contract_id)

    async def snapshot(self) -> JSON:
        """Everything a refusal must leave alone."""
        return {
            "room": await self.read(),
            "client_notifications": await notification_nodes(self.client),
            "freelancer_notifications": await notification_nodes(self.freelancer),
        }

    # ---- workflow actions that must succeed; each returns its payload

    async def add(self, title: str, amount: str, **extra: Any) -> JSON:
        return await ok(
            self.client,
            "addMilestone",
            {"contractId": self.contract_id, "title": title, "amount": amount, **extra},
        )

    async def activate(self, index: int, **extra: Any) -> JSON:
        return await ok(
            self.client, "activateMilestone", {"milestoneId": self.milestone(index), **extra}
        )

    async def submit(self, index: int) -> JSON:
        return await ok(self.freelancer, "submitMilestone", {"milestoneId": self.milestone(index)})

    async def reject(self, index: int) -> JSON:
        return await ok(self.client, "rejectSubmission", {"milestoneId": self.milestone(index)})

    async def approve(
        self,
        index: int,
        *,
        release: str | None = None,
        end_contract: bool = False,
        **extra: Any,
    ) -> JSON:
        return await ok(
            self.client,
            "approveMilestone",
            {
                "milestoneId": self.milestone(index),
                "endContract": end_contract,
                **variables(releaseAmount=release),
                **extra,
            },
        )

    async def request_refund(self, index: int, message: str | None = None) -> JSON:
        return await ok(
            self.client,
            "requestEscrowRefund",
            {"milestoneId": self.milestone(index), **variables(message=message)},
        )

    async def respond_to_refund(self, refund_request_id: str, decision: str) -> JSON:
        return await ok(
            self.freelancer,
            "respondToRefundRequest",
            {"refundRequestId": refund_request_id, "decision": decision},
        )

    async def request_changes(self, changes: list[JSON], message: str | None = None) -> JSON:
        return await ok(
            self.freelancer,
            "requestMilestoneChanges",
            {"contractId": self.contract_id, "changes": changes, **variables(message=message)},
        )

    async def respond_to_changes(
        self, change_request_id: str, decision: str, message: str | None = None
    ) -> JSON:
        return await ok(
            self.client,
            "respondToChangeRequest",
            {
                "changeRequestId": change_request_id,
                "decision": decision,
                **variables(message=message),
            },
        )

    async def end(self, actor: Actor | None = None, **extra: Any) -> JSON:
        return await ok(
            actor or self.client, "endContract", {"contractId": self.contract_id, **extra}
        )

    async def open_dispute(self, message: str | None = None, **target: str) -> JSON:
        """The freelancer disputes `refundRequestId=...` or `milestoneId=...`."""
        return await ok(self.freelancer, "openDispute", {**target, **variables(message=message)})

    async def respond_to_dispute(
        self, dispute_id: str, decision: str, message: str | None = None
    ) -> JSON:
        return await ok(
            self.client,
            "respondToDispute",
            {"disputeId": dispute_id, "decision": decision, **variables(message=message)},
        )


async def offer_contract(
    client: Actor,
    freelancer: Actor | None = None,
    *,
    email: str | None = None,
    title: str = "Website redesign",
    currency: str | None = None,
    **extra: Any,
) -> JSON:
    """The client's `createContract`: an OFFERED contract to `freelancer` (by user id) or to
    `email`; return its payload's contract."""
    if email is not None:
        party = {"freelancerEmail": email}
    elif freelancer is not None:
        party = {"freelancerId": await freelancer.user_id()}
    else:
        party = {}  # named in `extra` (freelancerTeamId)
    payload = await ok(
        client,
        "createContract",
        {"title": title, **party, **variables(currency=currency), **extra},
    )
    contract: JSON = payload["contract"]
    assert contract["status"] == "OFFERED", contract
    return contract


async def accept_offer(freelancer: Actor, contract_id: str, message: str | None = None) -> JSON:
    """The freelancer party's `acceptContract`; return the (now ACTIVE) contract."""
    payload = await ok(
        freelancer,
        "acceptContract",
        {"contractId": contract_id, **variables(message=message)},
    )
    contract: JSON = payload["contract"]
    return contract


async def create_contract(
    client: Actor,
    freelancer: Actor,
    *,
    title: str = "Website redesign",
    currency: str | None = None,
    client_team_id: str | None = None,
    freelancer_team_id: str | None = None,
) -> JSON:
    """An ACTIVE contract: the client's offer (`createContract`), accepted by the freelancer
    (`acceptContract`); return the contract as the client sees it then (the offer as the client
    saw it, with the acceptance's status: no extra request, which rate-limit tests count).

    Team sides: `client_team_id` (the client side is that team, `client` one of its OWNERs or
    ADMINs); `freelancer_team_id` (the offer goes to that team and `freelancer`, one of its
    OWNERs or ADMINs, accepts it)."""
    if freelancer_team_id is not None:
        offer = await offer_contract(
            client,
            title=title,
            currency=currency,
            freelancerTeamId=freelancer_team_id,
            **variables(clientTeamId=client_team_id),
        )
    else:
        offer = await offer_contract(
            client,
            freelancer,
            title=title,
            currency=currency,
            **variables(clientTeamId=client_team_id),
        )
    accepted = await accept_offer(freelancer, offer["id"])
    assert accepted["status"] == "ACTIVE", accepted
    if freelancer_team_id is not None:  # the accepting admin became `freelancer`: read it
        contract = await read_contract(client, offer["id"])
        assert contract is not None
        return contract
    return {**offer, "status": accepted["status"], "acceptedAt": accepted["acceptedAt"]}


async def create_contract_with_milestones(
    client: Actor,
    freelancer: Actor,
    amounts: list[str] | None = None,
    *,
    title: str = "Website redesign",
) -> Room:
    """A contract with one UPCOMING milestone per amount, titled "M1", "M2", ..."""
    contract = await create_contract(client, freelancer, title=title)
    room = Room(client, freelancer, contract["id"], [])
    for number, amount in enumerate(amounts if amounts is not None else [], start=1):
        payload = await room.add(f"M{number}", amount)
        room.milestone_ids.append(payload["milestone"]["id"])
    return room


async def pending_change_request(room: Room, changes: list[JSON] | None = None) -> str:
    """Have the freelancer send a change request (by default: ADD one milestone); its id."""
    payload = await room.request_changes(
        changes or [{"kind": "ADD", "title": "Extra work", "amount": "250.00"}],
        message="Can we add this?",
    )
    change_request_id: str = payload["changeRequest"]["id"]
    return change_request_id


async def pending_refund_request(room: Room, index: int = 0) -> str:
    """Have the client ask for a refund of milestone `index` (already activated); its id."""
    payload = await room.request_refund(index, message="Please refund")
    refund_request_id: str = payload["refundRequest"]["id"]
    return refund_request_id


# --------------------------------------------------------------------------- teams


async def create_team(owner: Actor, name: str = "Acme Agency") -> str:
    """A team with `owner` as its first OWNER; its id."""
    payload = await ok(owner, "createTeam", {"name": name})
    team_id: str = payload["team"]["id"]
    return team_id


async def add_team_member(by: Actor, team_id: str, email: str, role: str = "MEMBER") -> JSON:
    payload = await ok(by, "addTeamMember", {"teamId": team_id, "email": email, "role": role})
    team: JSON = payload["team"]
    return team


async def remove_team_member(by: Actor, team_id: str, email: str) -> JSON:
    payload = await ok(by, "removeTeamMember", {"teamId": team_id, "email": email})
    team: JSON = payload["team"]
    return team
