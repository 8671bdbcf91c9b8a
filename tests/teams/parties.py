"""Contracts with a team side, built through the public API (tests/helpers.py)."""

from __future__ import annotations

from dataclasses import dataclass

from tests.helpers import Actor, ApiClient, Room, add_team_member, create_contract, create_team


@dataclass
class ClientCompany:
    """A contract whose client side is a team: its owner made it; an admin and a member."""

    team_id: str
    owner: Actor
    admin: Actor
    member: Actor
    freelancer: Actor
    room: Room


async def client_company(api: ApiClient, freelancer: Actor) -> ClientCompany:
    owner = api.actor("owner", name="Olga Owner", email="olga@corp.example")
    admin = api.actor("admin", name="Adam Admin", email="adam@corp.example")
    member = api.actor("member", name="Mia Member", email="mia@corp.example")
    for person in (owner, admin, member, freelancer):
        await person.user_id()
    team_id = await create_team(owner, "Corp")
    await add_team_member(owner, team_id, "adam@corp.example", "ADMIN")
    await add_team_member(owner, team_id, "mia@corp.example", "MEMBER")
    contract = await create_contract(owner, freelancer, client_team_id=team_id)
    room = Room(owner, freelancer, contract["id"], [])
    return ClientCompany(team_id, owner, admin, member, freelancer, room)
