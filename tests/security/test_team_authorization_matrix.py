"""Who may do what on a contract whose two sides are teams: each contract mutation and room
query, for the OWNER, ADMIN and MEMBER of the client's team and of the agency (the freelancer's
team), an outsider, and a member removed from the client's team.

OWNERs and ADMINs act with their side's role; MEMBERs see the room and, on the freelancer side,
may submit work, nothing else (FORBIDDEN); the outsider and the removed member do not find the
contract (NOT_FOUND, null, empty). The mutations and their set-ups are the ones of
`test_authorization_matrix.py`, so a new contract mutation needs a row here too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import pytest

from tests.helpers import (
    MUTATIONS,
    Room,
    add_team_member,
    create_contract,
    create_team,
    offer_contract,
    remove_team_member,
)
from tests.security.test_authorization_matrix import (
    EMPTY,
    FORBIDDEN,
    MUTATION_SETUPS,
    NOT_FOUND,
    NULL,
    OK,
    QUERIES,
    _mutation_outcome,
    _query_outcome,
)

TEAM_ROLES: Final = (
    "client_owner",
    "client_admin",
    "client_member",
    "freelancer_owner",
    "freelancer_admin",
    "freelancer_member",
    "outsider",
    "removed",
)


def team_row(
    client: str,
    freelancer: str,
    *,
    client_member: str = FORBIDDEN,
    freelancer_member: str = FORBIDDEN,
) -> dict[str, str]:
    """`client` for the client team's OWNER and ADMIN, `freelancer` for the agency's."""
    return {
        "client_owner": client,
        "client_admin": client,
        "client_member": client_member,
        "freelancer_owner": freelancer,
        "freelancer_admin": freelancer,
        "freelancer_member": freelancer_member,
        "outsider": NOT_FOUND,
        "removed": NOT_FOUND,
    }


CLIENT_SIDE = team_row(OK, FORBIDDEN)
FREELANCER_SIDE = team_row(FORBIDDEN, OK)
SEEN = {role: OK for role in TEAM_ROLES[:6]}

TEAM_MATRIX: Final[dict[str, dict[str, str]]] = {
    "contract": {**SEEN, "outsider": NULL, "removed": NULL},
    "node": {**SEEN, "outsider": NULL, "removed": NULL},
    "contracts": {**SEEN, "outsider": EMPTY, "removed": EMPTY},
    "addMilestone": CLIENT_SIDE,
    "editMilestone": CLIENT_SIDE,
    "deleteMilestone": CLIENT_SIDE,
    "activateMilestone": CLIENT_SIDE,
    "rejectSubmission": CLIENT_SIDE,
    "approveMilestone": CLIENT_SIDE,
    "requestEscrowRefund": CLIENT_SIDE,
    "respondToChangeRequest": CLIENT_SIDE,
    "sendBonus": CLIENT_SIDE,
    "submitMilestone": team_row(FORBIDDEN, OK, freelancer_member=OK),
    "respondToRefundRequest": FREELANCER_SIDE,
    "requestMilestoneChanges": FREELANCER_SIDE,
    "withdrawChangeRequest": FREELANCER_SIDE,
    "endContract": team_row(OK, OK),
    "openDispute": FREELANCER_SIDE,
    "respondToDispute": CLIENT_SIDE,
    # a mediator's alone: every side's people are refused, outsiders do not find it
    "resolveDispute": team_row(FORBIDDEN, FORBIDDEN),
    # on an offer to the agency (from the client team)
    "acceptContract": FREELANCER_SIDE,
    "declineContract": FREELANCER_SIDE,
}
CONTRACT_MUTATIONS: Final = sorted(name for name in TEAM_MATRIX if name in MUTATIONS)


@dataclass
class Teams:
    people: dict[str, Any]
    client_team: str
    agency: str


async def _teams(api: Any) -> Teams:
    """The client's company and the agency, three members each, and a removed member."""
    people = {
        role: api.actor(role, name=role.replace("_", " ").title(), email=f"{role}@example.com")
        for role in TEAM_ROLES
    }
    for person in people.values():
        await person.user_id()
    client_team = await create_team(people["client_owner"], "Client Co")
    agency = await create_team(people["freelancer_owner"], "Agency")
    for side, team_id in (("client", client_team), ("freelancer", agency)):
        owner = people[f"{side}_owner"]
        await add_team_member(owner, team_id, f"{side}_admin@example.com", "ADMIN")
        await add_team_member(owner, team_id, f"{side}_member@example.com", "MEMBER")
    await add_team_member(people["client_owner"], client_team, "removed@example.com", "ADMIN")
    await remove_team_member(people["client_owner"], client_team, "removed@example.com")
    return Teams(people, client_team, agency)


async def _room(teams: Teams) -> Room:
    """A contract between the two teams: offered by the client team's OWNER, accepted by the
    agency's ADMIN, with two upcoming milestones."""
    client, freelancer = teams.people["client_owner"], teams.people["freelancer_admin"]
    contract = await create_contract(
        client, freelancer, client_team_id=teams.client_team, freelancer_team_id=teams.agency
    )
    room = Room(client, freelancer, contract["id"], [])
    for number, amount in enumerate(("100.00", "200.00"), start=1):
        payload = await room.add(f"M{number}", amount)
        room.milestone_ids.append(payload["milestone"]["id"])
    return room


async def _offer_to_agency(teams: Teams) -> dict[str, Any]:
    offer = await offer_contract(
        teams.people["client_owner"],
        title="Another job",
        clientTeamId=teams.client_team,
        freelancerTeamId=teams.agency,
    )
    return {"contractId": offer["id"]}


def test_the_team_matrix_covers_every_contract_mutation() -> None:
    from tests.security.test_authorization_matrix import MATRIX

    contract_mutations = {
        name
        for name, row in MATRIX.items()
        if name in MUTATIONS
        and row["outsider"] == NOT_FOUND
        and "Webhook" not in name
        and "Team" not in name
        and name != "markNotificationsRead"
    }
    assert contract_mutations <= set(TEAM_MATRIX), contract_mutations - set(TEAM_MATRIX)


@pytest.mark.parametrize("mutation", CONTRACT_MUTATIONS)
async def test_team_mutation_authorization(api: Any, mutation: str) -> None:
    teams = await _teams(api)
    outcomes = {}
    for role in TEAM_ROLES:
        room = await _room(teams)  # a fresh contract each time: a success changes the state
        if mutation in ("acceptContract", "declineContract"):
            input = await _offer_to_agency(teams)
        else:
            input = await MUTATION_SETUPS[mutation](room, api)
        body = await teams.people[role].post(MUTATIONS[mutation], {"input": input})
        outcomes[role] = _mutation_outcome(mutation, body)
    assert outcomes == TEAM_MATRIX[mutation]


@pytest.mark.parametrize("query", ["contract", "contracts", "node"])
async def test_team_query_authorization(api: Any, query: str) -> None:
    teams = await _teams(api)
    room = await _room(teams)
    outcomes = {}
    for role in TEAM_ROLES:
        body = await teams.people[role].post(QUERIES[query], {"id": room.contract_id})
        outcomes[role] = _query_outcome(body)
    assert outcomes == TEAM_MATRIX[query]
