"""A team as a contract's side: who sees the room, who acts, and who is notified."""

from __future__ import annotations

from bench.sql_log import statement_log
from tests.helpers import (
    CONTRACTS_QUERY,
    Actor,
    ApiClient,
    add_team_member,
    create_contract,
    event_kinds,
    notification_nodes,
    ok,
    read_contract,
    refuse,
    remove_team_member,
)
from tests.teams.parties import client_company


async def contract_ids(actor: Actor) -> list[str]:
    data = await actor.gql(CONTRACTS_QUERY, {"first": 100})
    return [edge["node"]["id"] for edge in data["contracts"]["edges"]]


async def test_every_member_of_the_client_team_sees_the_room_as_client(
    api: ApiClient, freelancer: Actor, outsider: Actor
) -> None:
    company = await client_company(api, freelancer)
    contract_id = company.room.contract_id
    for person in (company.owner, company.admin, company.member):
        seen = await read_contract(person, contract_id)
        assert seen is not None and seen["viewerRole"] == "CLIENT"
        assert seen["clientTeam"] == {"id": company.team_id, "name": "Corp"}
        assert seen["client"] == {"id": await company.owner.user_id()}
        assert await contract_ids(person) == [contract_id]
    roles = "query ($id: ID!) { contract(id: $id) { viewerRole viewerTeamRole } }"
    for person, team_role in (
        (company.owner, "OWNER"),
        (company.admin, "ADMIN"),
        (company.member, "MEMBER"),
        (freelancer, None),
    ):
        data = await person.gql(roles, {"id": contract_id})
        assert data["contract"]["viewerTeamRole"] == team_role
    seen = await read_contract(freelancer, contract_id)
    assert seen is not None and seen["viewerRole"] == "FREELANCER"
    assert seen["clientTeam"] == {"id": company.team_id, "name": "Corp"}
    assert await read_contract(outsider, contract_id) is None
    assert await contract_ids(outsider) == []


async def test_owners_and_admins_act_as_the_client_members_only_watch(
    api: ApiClient, freelancer: Actor
) -> None:
    company = await client_company(api, freelancer)
    contract_id = company.room.contract_id
    added = await ok(
        company.admin,
        "addMilestone",
        {"contractId": contract_id, "title": "Design", "amount": "100.00"},
    )
    milestone_id = added["milestone"]["id"]
    await refuse(
        company.member,
        "addMilestone",
        {"contractId": contract_id, "title": "Nope", "amount": "1.00"},
        "FORBIDDEN",
        room=company.room,
    )
    await refuse(company.member, "activateMilestone", {"milestoneId": milestone_id}, "FORBIDDEN")
    await refuse(company.member, "endContract", {"contractId": contract_id}, "FORBIDDEN")
    await ok(company.owner, "activateMilestone", {"milestoneId": milestone_id})
    # A client-side member may not submit work either: that is the freelancer's.
    await refuse(company.member, "submitMilestone", {"milestoneId": milestone_id}, "FORBIDDEN")
    await ok(freelancer, "submitMilestone", {"milestoneId": milestone_id})
    await ok(company.admin, "approveMilestone", {"milestoneId": milestone_id, "endContract": False})


async def test_each_member_of_the_other_side_gets_their_own_notification(
    api: ApiClient, freelancer: Actor
) -> None:
    company = await client_company(api, freelancer)
    contract_id = company.room.contract_id
    # The freelancer acts: every member of the client team is told, each with their own.
    await ok(
        freelancer,
        "requestMilestoneChanges",
        {"contractId": contract_id, "changes": [{"kind": "ADD", "title": "X", "amount": "5"}]},
    )
    for person in (company.owner, company.admin, company.member):
        kinds = [n["kind"] for n in await notification_nodes(person)]
        assert kinds == ["CHANGE_REQUEST_SUBMITTED", "CONTRACT_ACCEPTED"], person
    # The admin acts for the client: the freelancer is told, the admin's teammates are not
    # (they are the same side), nor is the admin themselves.
    change_request = (await company.room.read())["pendingChangeRequest"]["id"]
    await ok(
        company.admin,
        "respondToChangeRequest",
        {"changeRequestId": change_request, "decision": "DECLINE"},
    )
    assert [n["kind"] for n in await notification_nodes(freelancer)] == [
        "CHANGE_REQUEST_DECLINED",
        "CONTRACT_OFFERED",
    ]
    for person in (company.owner, company.admin, company.member):
        assert [n["kind"] for n in await notification_nodes(person)] == [
            "CHANGE_REQUEST_SUBMITTED",
            "CONTRACT_ACCEPTED",
        ]


async def test_a_member_added_later_sees_the_history_but_no_older_notifications(
    api: ApiClient, freelancer: Actor
) -> None:
    company = await client_company(api, freelancer)
    contract_id = company.room.contract_id
    await ok(
        freelancer,
        "requestMilestoneChanges",
        {"contractId": contract_id, "changes": [{"kind": "ADD", "title": "X", "amount": "5"}]},
    )
    late = api.actor("late", email="late@corp.example")
    await add_team_member(company.owner, company.team_id, "late@corp.example", "MEMBER")
    assert event_kinds(await company.room.read(late)) == [
        "CONTRACT_OFFERED",
        "CONTRACT_ACCEPTED",
        "CHANGE_REQUEST_SUBMITTED",
    ]
    assert await notification_nodes(late) == []
    await ok(
        freelancer,
        "withdrawChangeRequest",
        {"changeRequestId": (await company.room.read())["pendingChangeRequest"]["id"]},
    )
    assert [n["kind"] for n in await notification_nodes(late)] == ["CHANGE_REQUEST_WITHDRAWN"]


async def test_a_removed_member_loses_the_room_at_once_but_keeps_past_notifications(
    api: ApiClient, freelancer: Actor
) -> None:
    company = await client_company(api, freelancer)
    contract_id = company.room.contract_id
    await ok(
        freelancer,
        "requestMilestoneChanges",
        {"contractId": contract_id, "changes": [{"kind": "ADD", "title": "X", "amount": "5"}]},
    )
    assert await read_contract(company.admin, contract_id) is not None
    concerned = (
        "query { notifications(first: 10) { edges { node { kind contract { id title } "
        "changeRequest { id message } milestone { id } } } } }"
    )
    before = (await company.admin.gql(concerned))["notifications"]["edges"]
    assert before[0]["node"]["contract"]["id"] == contract_id
    assert before[0]["node"]["changeRequest"] is not None
    await remove_team_member(company.owner, company.team_id, "adam@corp.example")
    # Their past notifications no longer open the room, nor anything in it.
    after = (await company.admin.gql(concerned))["notifications"]["edges"]
    assert [edge["node"] for edge in after] == [
        {**edge["node"], "contract": None, "changeRequest": None, "milestone": None}
        for edge in before
    ]
    assert await read_contract(company.admin, contract_id) is None
    assert await contract_ids(company.admin) == []
    node = await company.admin.gql("query ($id: ID!) { node(id: $id) { id } }", {"id": contract_id})
    assert node["node"] is None
    await refuse(
        company.admin,
        "addMilestone",
        {"contractId": contract_id, "title": "Nope", "amount": "1.00"},
        "NOT_FOUND",
    )
    assert [n["kind"] for n in await notification_nodes(company.admin)] == [
        "CHANGE_REQUEST_SUBMITTED",
        "CONTRACT_ACCEPTED",
    ]
    # And they are told nothing more.
    change_request = (await company.room.read())["pendingChangeRequest"]["id"]
    await ok(freelancer, "withdrawChangeRequest", {"changeRequestId": change_request})
    assert len(await notification_nodes(company.admin)) == 2
    assert len(await notification_nodes(company.member)) == 3


async def test_a_member_of_the_team_cannot_make_it_a_party_and_an_outsider_does_not_find_it(
    api: ApiClient, freelancer: Actor, outsider: Actor
) -> None:
    company = await client_company(api, freelancer)
    freelancer_id = await freelancer.user_id()
    create = {"title": "T", "freelancerId": freelancer_id, "clientTeamId": company.team_id}
    await refuse(company.member, "createContract", create, "FORBIDDEN", field="clientTeamId")
    await refuse(outsider, "createContract", create, "NOT_FOUND", field="clientTeamId")
    await refuse(
        company.owner,
        "createContract",
        {**create, "clientTeamId": company.room.contract_id},
        "NOT_FOUND",
        field="clientTeamId",
    )
    assert await contract_ids(company.member) == [company.room.contract_id]


async def test_notifications_for_fifty_members_are_one_insert(
    api: ApiClient, freelancer: Actor
) -> None:
    company = await client_company(api, freelancer)
    for number in range(47):
        await add_team_member(company.owner, company.team_id, f"p{number}@corp.example")
        await api.actor(f"p{number}", email=f"p{number}@corp.example").user_id()
    with statement_log() as log:
        await ok(
            freelancer,
            "requestMilestoneChanges",
            {
                "contractId": company.room.contract_id,
                "changes": [{"kind": "ADD", "title": "X", "amount": "5"}],
            },
        )
    inserts = [s.sql for s in log.statements if "INSERT INTO" in s.sql.upper()]
    into_notifications = [sql for sql in inserts if '"notifications"' in sql]
    # (On PostgreSQL the numbering UPDATE and the INSERT are one statement.)
    updates_of_seq = [s.sql for s in log.statements if "UPDATE users SET notification_seq" in s.sql]
    assert len(into_notifications) == 1, into_notifications
    assert len(updates_of_seq) == 1, updates_of_seq
    for person in (company.owner, company.member):
        assert [n["kind"] for n in await notification_nodes(person)] == [
            "CHANGE_REQUEST_SUBMITTED",
            "CONTRACT_ACCEPTED",
        ]
    assert len(await notification_nodes(api.actor("p46", email="p46@corp.example"))) == 1


async def test_an_action_on_a_team_contract_costs_the_statements_of_one_between_people(
    api: ApiClient, freelancer: Actor
) -> None:
    """The lock reads the actor's role in the contract's teams with the contract row, not in a
    statement of its own (`access._locked`)."""
    company = await client_company(api, freelancer)
    person = api.actor("solo-client", name="Sol Client")
    solo = await create_contract(person, freelancer)
    counts = {}
    for label, actor, contract_id in (
        ("person", person, solo["id"]),
        ("team admin", company.admin, company.room.contract_id),
    ):
        added = await ok(
            actor, "addMilestone", {"contractId": contract_id, "title": "M", "amount": "10"}
        )
        with statement_log() as log:
            await ok(
                actor, "editMilestone", {"milestoneId": added["milestone"]["id"], "title": "N"}
            )
        counts[label] = len(log.statements)
    # The payload shows two rows more: the client (the team's owner, who is not the actor) and
    # the client team. The action itself costs the same.
    assert counts["team admin"] == counts["person"] + 2, counts
