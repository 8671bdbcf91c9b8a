"""An agency in the /app page: its admin accepts an offer made to the agency, one of its
members submits the work, and the team page lists who is in it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Browser, expect

from tests.browser.conftest import GraphQLUser, ServerProcess
from tests.browser.test_contract_room_page import (
    ACTIVATE_MILESTONE,
    CREATE_CONTRACT,
    LIVE_TIMEOUT_MS,
    add_milestones,
    assert_not_reloaded,
    open_room,
)

CREATE_TEAM = """
mutation CreateTeam($input: CreateTeamInput!) {
  createTeam(input: $input) { team { id } userErrors { code message field } }
}"""
ADD_TEAM_MEMBER = """
mutation AddTeamMember($input: AddTeamMemberInput!) {
  addTeamMember(input: $input) { team { id } userErrors { code message field } }
}"""
NOTIFICATIONS = "query { notifications(first: 10) { edges { node { kind actor { name } } } } }"


def test_an_agency_admin_accepts_the_offer_and_a_member_submits_the_work(
    browser: Browser, server: Callable[..., ServerProcess], artifacts: Path
) -> None:
    api = server()
    client = GraphQLUser(api.url, "team-client", "Cleo Client")
    owner = GraphQLUser(api.url, "agency-owner", "Olive Owner")
    admin = GraphQLUser(api.url, "agency-admin", "Ada Admin")
    member = GraphQLUser(api.url, "agency-member", "Milo Member")
    team_id = owner.gql(CREATE_TEAM, {"input": {"name": "Pixel Agency"}})["createTeam"]["team"][
        "id"
    ]
    for person, role in ((admin, "ADMIN"), (member, "MEMBER")):
        # Neither has signed in yet: they join the team at their first sign-in, in the page.
        owner.gql(
            ADD_TEAM_MEMBER,
            {"input": {"teamId": team_id, "email": f"{person.sub}@example.com", "role": role}},
        )
    contract_id = client.gql(
        CREATE_CONTRACT, {"input": {"title": "Website redesign", "freelancerTeamId": team_id}}
    )["createContract"]["contract"]["id"]
    milestone_ids = add_milestones(client, contract_id)

    # The agency's admin: the offer is theirs to answer, on the agency's behalf.
    admin_page = open_room(browser, api, admin)
    expect(admin_page.get_by_test_id("room-status")).to_have_text("OFFERED")
    expect(admin_page.get_by_test_id("freelancer-team-badge")).to_have_text("Pixel Agency")
    expect(admin_page.get_by_test_id("viewer-team-role")).to_contain_text("ADMIN")
    expect(admin_page.get_by_test_id("incoming-offer")).to_have_count(1)
    admin_page.get_by_test_id("room-accept-offer").click()
    expect(admin_page.get_by_test_id("room-status")).to_have_text("ACTIVE")
    assert_not_reloaded(admin_page)
    client.gql(ACTIVATE_MILESTONE, {"input": {"milestoneId": milestone_ids[0]}})

    # A member of the agency: sees the room, may submit the work and nothing else.
    member_page = open_room(browser, api, member)
    expect(member_page.get_by_test_id("room-status")).to_have_text("ACTIVE")
    expect(member_page.get_by_test_id("viewer-team-role")).to_contain_text("MEMBER")
    expect(member_page.get_by_test_id("request-changes-form")).to_have_count(0)
    submit = member_page.get_by_role("button", name="Submit work")
    expect(submit).to_have_count(1)
    submit.click()
    expect(member_page.get_by_test_id("milestone-row").first).to_contain_text(
        "SUBMITTED", timeout=LIVE_TIMEOUT_MS
    )
    assert_not_reloaded(member_page)
    submitted = [
        edge["node"]
        for edge in client.gql(NOTIFICATIONS)["notifications"]["edges"]
        if edge["node"]["kind"] == "MILESTONE_SUBMITTED"
    ]
    assert submitted == [{"kind": "MILESTONE_SUBMITTED", "actor": {"name": "Milo Member"}}]

    # The team page lists the agency's people and their roles.
    member_page.get_by_test_id("freelancer-team-badge").click()
    expect(member_page.get_by_test_id("team-name")).to_have_text("Pixel Agency")
    rows = member_page.get_by_test_id("team-member")
    expect(rows).to_have_count(3)
    expect(member_page.get_by_test_id("team-member-role")).to_have_text(
        ["OWNER", "ADMIN", "MEMBER"]
    )
    expect(rows.nth(2)).to_contain_text("Milo Member")
    screenshot = artifacts / "team-page.png"
    member_page.screenshot(path=str(screenshot), full_page=True)
    print(f"\nscreenshot: {screenshot}")
