"""Teams: creating one, adding, changing and removing members, and who may do it."""

from __future__ import annotations

from tests.helpers import (
    JSON,
    Actor,
    ApiClient,
    add_team_member,
    create_team,
    mutate,
    ok,
    refuse,
)

TEAMS_QUERY = "query { me { teams { id name members { email role user { id } } } } }"


async def my_teams(actor: Actor) -> list[JSON]:
    data = await actor.gql(TEAMS_QUERY)
    teams: list[JSON] = data["me"]["teams"]
    return teams


def roles(team: JSON) -> dict[str | None, str]:
    return {member["email"]: member["role"] for member in team["members"]}


async def test_the_creator_is_the_first_owner_and_sees_it_in_me_teams(client: Actor) -> None:
    payload = await ok(client, "createTeam", {"name": "  Acme Agency  "})
    team = payload["team"]
    assert team["name"] == "Acme Agency"
    assert team["members"] == [
        {"email": "cleo@example.com", "role": "OWNER", "user": {"id": await client.user_id()}}
    ]
    assert [t["id"] for t in await my_teams(client)] == [team["id"]]


async def test_a_member_is_matched_now_by_the_email_of_an_existing_user(
    api: ApiClient, client: Actor
) -> None:
    ann = api.actor("ann", email="Ann@Example.com")
    ann_id = await ann.user_id()
    team_id = await create_team(client)
    team = await add_team_member(client, team_id, "  ANN@example.COM ", "ADMIN")
    ann_row = next(m for m in team["members"] if m["email"] == "ann@example.com")
    assert ann_row == {"email": "ann@example.com", "role": "ADMIN", "user": {"id": ann_id}}
    assert [t["id"] for t in await my_teams(ann)] == [team_id]


async def test_an_invited_email_is_matched_at_first_sign_in(api: ApiClient, client: Actor) -> None:
    team_id = await create_team(client)
    team = await add_team_member(client, team_id, "bob@example.com")
    assert {"email": "bob@example.com", "role": "MEMBER", "user": None} in team["members"]
    # A token without an email claim matches nothing, nor does another address.
    assert await my_teams(api.actor("bob-no-email")) == []
    assert await my_teams(api.actor("bobby", email="bobby@example.com")) == []
    bob = api.actor("bob", email=" Bob@EXAMPLE.com ")
    teams = await my_teams(bob)
    assert [t["id"] for t in teams] == [team_id]
    bob_row = next(m for m in teams[0]["members"] if m["email"] == "bob@example.com")
    assert bob_row["user"] == {"id": await bob.user_id()}


async def test_owners_and_admins_manage_members(api: ApiClient, client: Actor) -> None:
    admin = api.actor("admin", email="admin@example.com")
    await admin.user_id()
    team_id = await create_team(client)
    await add_team_member(client, team_id, "admin@example.com", "ADMIN")
    team = await add_team_member(admin, team_id, "m@example.com", "MEMBER")
    assert roles(team)["m@example.com"] == "MEMBER"
    payload = await ok(
        admin,
        "changeTeamMemberRole",
        {"teamId": team_id, "email": "m@example.com", "role": "ADMIN"},
    )
    assert roles(payload["team"])["m@example.com"] == "ADMIN"
    payload = await ok(admin, "removeTeamMember", {"teamId": team_id, "email": "M@example.com"})
    assert "m@example.com" not in roles(payload["team"])


async def test_only_an_owner_makes_changes_or_removes_an_owner(
    api: ApiClient, client: Actor
) -> None:
    admin = api.actor("admin", email="admin@example.com")
    await admin.user_id()
    team_id = await create_team(client)
    await add_team_member(client, team_id, "admin@example.com", "ADMIN")
    await add_team_member(client, team_id, "co-owner@example.com", "OWNER")
    owner = {"teamId": team_id, "email": "cleo@example.com"}
    # An ADMIN can neither take an OWNER's role away nor remove one...
    await refuse(
        admin, "changeTeamMemberRole", {**owner, "role": "MEMBER"}, "FORBIDDEN", field="role"
    )
    await refuse(admin, "removeTeamMember", owner, "FORBIDDEN", field="email")
    # ...nor make anyone an OWNER, themselves included.
    await refuse(
        admin,
        "changeTeamMemberRole",
        {"teamId": team_id, "email": "admin@example.com", "role": "OWNER"},
        "FORBIDDEN",
        field="role",
    )
    add_owner = {"teamId": team_id, "email": "new@example.com", "role": "OWNER"}
    await refuse(admin, "addTeamMember", add_owner, "FORBIDDEN", field="role")
    team = (await my_teams(client))[0]
    assert roles(team) == {
        "cleo@example.com": "OWNER",
        "admin@example.com": "ADMIN",
        "co-owner@example.com": "OWNER",
    }
    # An OWNER may do all of it.
    await ok(client, "addTeamMember", add_owner)
    await ok(
        client, "changeTeamMemberRole", {**owner, "email": "co-owner@example.com", "role": "ADMIN"}
    )
    payload = await ok(client, "removeTeamMember", {"teamId": team_id, "email": "new@example.com"})
    assert roles(payload["team"]) == {
        "cleo@example.com": "OWNER",
        "admin@example.com": "ADMIN",
        "co-owner@example.com": "ADMIN",
    }


async def test_a_member_is_forbidden_and_an_outsider_does_not_find_the_team(
    api: ApiClient, client: Actor, outsider: Actor
) -> None:
    member = api.actor("member", email="member@example.com")
    await member.user_id()
    team_id = await create_team(client)
    await add_team_member(client, team_id, "member@example.com", "MEMBER")
    add = {"teamId": team_id, "email": "x@example.com", "role": "MEMBER"}
    await refuse(member, "addTeamMember", add, "FORBIDDEN")
    await refuse(
        member, "removeTeamMember", {"teamId": team_id, "email": "cleo@example.com"}, "FORBIDDEN"
    )
    await refuse(
        member,
        "changeTeamMemberRole",
        {"teamId": team_id, "email": "member@example.com", "role": "OWNER"},
        "FORBIDDEN",
    )
    await refuse(outsider, "addTeamMember", add, "NOT_FOUND", field="teamId")
    await refuse(
        outsider,
        "removeTeamMember",
        {"teamId": team_id, "email": "member@example.com"},
        "NOT_FOUND",
        field="teamId",
    )
    # NOT_FOUND comes before VALIDATION for an outsider.
    await refuse(outsider, "addTeamMember", {**add, "email": "nope"}, "NOT_FOUND")
    team = (await my_teams(client))[0]
    assert roles(team) == {"cleo@example.com": "OWNER", "member@example.com": "MEMBER"}


async def test_the_last_owner_stays(api: ApiClient, client: Actor) -> None:
    team_id = await create_team(client)
    me = {"teamId": team_id, "email": "cleo@example.com"}
    await refuse(client, "removeTeamMember", me, "VALIDATION", field="email")
    await refuse(
        client, "changeTeamMemberRole", {**me, "role": "ADMIN"}, "VALIDATION", field="email"
    )
    # With a second owner, the first may step down.
    await add_team_member(client, team_id, "second@example.com", "OWNER")
    payload = await ok(client, "changeTeamMemberRole", {**me, "role": "ADMIN"})
    assert roles(payload["team"])["cleo@example.com"] == "ADMIN"


async def test_bad_input_is_validation(client: Actor) -> None:
    await refuse(client, "createTeam", {"name": "   "}, "VALIDATION", field="name")
    team_id = await create_team(client)
    await refuse(
        client,
        "addTeamMember",
        {"teamId": team_id, "email": "not-an-email", "role": "MEMBER"},
        "VALIDATION",
        field="email",
    )
    await refuse(
        client,
        "addTeamMember",
        {"teamId": team_id, "email": "CLEO@example.com", "role": "MEMBER"},
        "VALIDATION",
        field="email",
    )
    await refuse(
        client,
        "removeTeamMember",
        {"teamId": team_id, "email": "nobody@example.com"},
        "NOT_FOUND",
        field="email",
    )


async def test_idempotency_key_replays_and_conflicts(client: Actor) -> None:
    first = await ok(client, "createTeam", {"name": "Acme", "idempotencyKey": "team-1"})
    again = await ok(client, "createTeam", {"name": "Acme", "idempotencyKey": "team-1"})
    assert again["team"]["id"] == first["team"]["id"]
    assert len(await my_teams(client)) == 1
    payload = await mutate(client, "createTeam", {"name": "Other", "idempotencyKey": "team-1"})
    assert [e["code"] for e in payload["userErrors"]] == ["IDEMPOTENCY_CONFLICT"]
    team_id = first["team"]["id"]
    add = {"teamId": team_id, "email": "a@example.com", "role": "MEMBER", "idempotencyKey": "k"}
    await ok(client, "addTeamMember", add)
    await ok(client, "addTeamMember", add)  # replayed, not "already a member"
    payload = await mutate(client, "addTeamMember", {**add, "role": "ADMIN"})
    assert [e["code"] for e in payload["userErrors"]] == ["IDEMPOTENCY_CONFLICT"]
