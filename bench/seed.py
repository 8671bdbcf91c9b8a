"""Contracts to measure, made through the public API as a client and a freelancer would."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from bench.api import (
    ACCEPT_CONTRACT,
    ACTIVATE_MILESTONE,
    ADD_MILESTONE,
    APPROVE_MILESTONE,
    CLIENT,
    CREATE_CONTRACT,
    FREELANCER,
    ME,
    REQUEST_CHANGES,
    GraphQLApi,
    GraphQLClient,
    Party,
)

FIRST_DUE_DATE = dt.date(2026, 3, 2)
# One milestone in four has a description, as in the rooms the issue measured (~9 kB).
DESCRIPTIONS = ("Wireframes and page inventory", None, None, None)


@dataclass
class SeededContract:
    contract_id: str
    milestone_ids: list[str] = field(default_factory=list)


async def create_contract(
    api: GraphQLClient, title: str, client: Party = CLIENT, freelancer: Party = FREELANCER
) -> SeededContract:
    freelancer_id = (await api.post(freelancer, ME))["data"]["me"]["id"]
    await api.post(client, ME)
    payload = await api.ok(
        client,
        "createContract",
        CREATE_CONTRACT,
        {"input": {"title": title, "freelancerId": freelancer_id, "currency": "USD"}},
    )
    contract_id = payload["contract"]["id"]
    # An offer until the freelancer accepts it: the rooms measured are ACTIVE contracts.
    await api.ok(
        freelancer, "acceptContract", ACCEPT_CONTRACT, {"input": {"contractId": contract_id}}
    )
    return SeededContract(contract_id)


async def add_milestones(
    api: GraphQLClient, contract: SeededContract, count: int, client: Party = CLIENT
) -> None:
    start = len(contract.milestone_ids)
    for index in range(start + 1, start + count + 1):
        payload = await api.ok(
            client,
            "addMilestone",
            ADD_MILESTONE,
            {
                "input": {
                    "contractId": contract.contract_id,
                    "title": f"Milestone {index}",
                    "description": DESCRIPTIONS[index % len(DESCRIPTIONS)],
                    "dueDate": (FIRST_DUE_DATE + dt.timedelta(weeks=index)).isoformat(),
                    "amount": f"{400 + 25 * (index % 40)}.00",
                }
            },
        )
        contract.milestone_ids.append(payload["milestone"]["id"])


async def activate(api: GraphQLApi, milestone_id: str) -> None:
    await api.ok(
        CLIENT, "activateMilestone", ACTIVATE_MILESTONE, {"input": {"milestoneId": milestone_id}}
    )


async def approve(api: GraphQLApi, milestone_id: str) -> None:
    await api.ok(
        CLIENT,
        "approveMilestone",
        APPROVE_MILESTONE,
        {"input": {"milestoneId": milestone_id, "endContract": False}},
    )


async def seed_room(api: GraphQLClient, milestones: int) -> SeededContract:
    """A contract room as users see it mid-way: the first milestone paid, the second active
    (funded), the rest upcoming, and the freelancer's change request pending."""
    room = await create_contract(api, f"Website redesign ({milestones} milestones)")
    await add_milestones(api, room, milestones)
    await activate(api, room.milestone_ids[0])
    await approve(api, room.milestone_ids[0])
    await activate(api, room.milestone_ids[1])
    edited = room.milestone_ids[min(9, milestones - 1)]
    await api.ok(
        FREELANCER,
        "requestMilestoneChanges",
        REQUEST_CHANGES,
        {
            "input": {
                "contractId": room.contract_id,
                "message": "Split the launch and add a hand-over session.",
                "changes": [
                    {"kind": "ADD", "title": "Hand-over session", "amount": "350.00"},
                    {"kind": "EDIT", "milestoneId": edited, "title": "Launch", "amount": "900.00"},
                ],
            }
        },
    )
    return room


async def seed_upcoming(api: GraphQLClient, title: str, milestones: int) -> SeededContract:
    """A contract whose milestones are all upcoming (to activate and approve, or to edit)."""
    contract = await create_contract(api, title)
    await add_milestones(api, contract, milestones)
    return contract
