"""An offer to an agency (a team on the freelancer side): seen and answered by the agency."""

from __future__ import annotations

from tests.helpers import (
    Actor,
    ApiClient,
    Room,
    accept_offer,
    add_team_member,
    create_contract,
    create_team,
    notification_nodes,
    offer_contract,
    ok,
    read_contract,
    refuse,
)


async def agency(api: ApiClient) -> tuple[str, Actor, Actor, Actor]:
    """(team id, owner, admin, member) of an agency whose people have all signed in."""
    owner = api.actor("ag-owner", name="Agnes Owner", email="agnes@agency.example")
    admin = api.actor("ag-admin", name="Arthur Admin", email="arthur@agency.example")
    member = api.actor("ag-member", name="Max Member", email="max@agency.example")
    for person in (owner, admin, member):
        await person.user_id()
    team_id = await create_team(owner, "Agency")
    await add_team_member(owner, team_id, "arthur@agency.example", "ADMIN")
    await add_team_member(owner, team_id, "max@agency.example", "MEMBER")
    return team_id, owner, admin, member


async def test_an_offer_to_an_agency_is_accepted_by_its_admin_and_worked_on_by_a_member(
    api: ApiClient, client: Actor, outsider: Actor
) -> None:
    team_id, owner, admin, member = await agency(api)
    offer = await offer_contract(client, freelancerTeamId=team_id)
    assert offer["freelancer"] is None
    assert offer["freelancerTeam"] == {"id": team_id, "name": "Agency"}
    # Every member of the agency sees the offer and is told of it.
    for person in (owner, admin, member):
        seen = await read_contract(person, offer["id"])
        assert seen is not None and seen["status"] == "OFFERED", person
        assert seen["viewerRole"] == "FREELANCER"
        assert [n["kind"] for n in await notification_nodes(person)] == ["CONTRACT_OFFERED"]
    assert await read_contract(outsider, offer["id"]) is None
    # A MEMBER may not answer it; the ADMIN accepts and becomes the contract's freelancer.
    await refuse(member, "acceptContract", {"contractId": offer["id"]}, "FORBIDDEN")
    await refuse(member, "declineContract", {"contractId": offer["id"]}, "FORBIDDEN")
    accepted = await accept_offer(admin, offer["id"])
    assert accepted["status"] == "ACTIVE"
    assert accepted["freelancer"] == {"id": await admin.user_id()}
    assert [n["kind"] for n in await notification_nodes(client)] == ["CONTRACT_ACCEPTED"]
    # The member submits work; they may not propose changes or end the contract.
    room = Room(client, admin, offer["id"], [])
    room.milestone_ids.append((await room.add("Design", "300.00"))["milestone"]["id"])
    await room.activate(0)
    await refuse(
        member,
        "requestMilestoneChanges",
        {"contractId": offer["id"], "changes": [{"kind": "ADD", "title": "X", "amount": "5"}]},
        "FORBIDDEN",
    )
    await refuse(member, "endContract", {"contractId": offer["id"]}, "FORBIDDEN")
    submitted = await ok(member, "submitMilestone", {"milestoneId": room.milestone(0)})
    assert submitted["milestone"]["status"] == "SUBMITTED"
    submitted_by = [
        n for n in await notification_nodes(client) if n["kind"] == "MILESTONE_SUBMITTED"
    ]
    assert [n["actor"]["id"] for n in submitted_by] == [await member.user_id()]
    # The agency's other people are told of the client's actions, never of their own.
    kinds = [n["kind"] for n in await notification_nodes(owner)]
    assert kinds == ["MILESTONE_ACTIVATED", "MILESTONE_ADDED", "CONTRACT_OFFERED"]
    assert "MILESTONE_SUBMITTED" not in [n["kind"] for n in await notification_nodes(member)]


async def test_an_offer_names_a_team_that_exists_and_is_not_the_clients_own(
    api: ApiClient, client: Actor, freelancer: Actor
) -> None:
    team_id, owner, _admin, _member = await agency(api)
    await refuse(
        owner,
        "createContract",
        {"title": "Self", "freelancerTeamId": team_id},
        "VALIDATION",
        field="freelancerTeamId",
    )
    await refuse(
        client,
        "createContract",
        {"title": "Nobody", "freelancerTeamId": "VGVhbTo5OTk5OQ=="},
        "VALIDATION",
        field="freelancerTeamId",
    )
    await refuse(
        client,
        "createContract",
        {"title": "Both", "freelancerTeamId": team_id, "freelancerId": await freelancer.user_id()},
        "VALIDATION",
        field="freelancerId",
    )


async def test_a_contract_between_two_teams(api: ApiClient, client: Actor) -> None:
    team_id, _owner, admin, member = await agency(api)
    client_team = await create_team(client, "Client Co")
    contract = await create_contract(
        client, admin, client_team_id=client_team, freelancer_team_id=team_id
    )
    seen = await read_contract(member, contract["id"])
    assert seen is not None
    assert seen["clientTeam"]["id"] == client_team and seen["freelancerTeam"]["id"] == team_id
    assert seen["client"] == {"id": await client.user_id()}
    assert seen["freelancer"] == {"id": await admin.user_id()}
