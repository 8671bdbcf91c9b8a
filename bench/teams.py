"""What a team party costs: a contract with a team of 50 on each side against the same contract
between two people, for the room query (cached and executed) and for mutations that notify the
other side (50 notifications, written with one statement, against one).

Both contracts live in one app in this process (PostgreSQL, in-process ASGI calls through
httpx, rate limits off), with the same milestones and the same documents; requests go to each
in turn, the order swapped every time, so load from elsewhere on the machine lands on both
alike. The figure is the median time of a request (of a cycle) on each; ratio = team / solo as
time, goal at most 1.5x.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bench.api import (
    ADD_MILESTONE,
    CREATE_CONTRACT,
    EDIT_MILESTONE,
    ME,
    REQUEST_CHANGES,
    ROOM_QUERY,
    GraphQLClient,
    Party,
    in_process,
    party,
)
from bench.plan import Plan
from bench.report import Report, Row

TEAM_SIZE = 50
MILESTONES = 5
GOAL = 1.5
WARMUP = 20

# The room as a team-aware page asks for it: badges on the parties.
TEAM_ROOM_QUERY = ROOM_QUERY.replace(
    "    client { id name }\n", "    client { id name }\n    clientTeam { id name }\n"
).replace(
    "    freelancer { id name }\n", "    freelancer { id name }\n    freelancerTeam { id name }\n"
)
# Two root fields: never served by the room cache, always executed.
EXECUTED_ROOM_QUERY = TEAM_ROOM_QUERY.replace(
    "query ContractRoom($id: ID!) {\n", "query ContractRoomExecuted($id: ID!) {\n  me { id }\n"
)
CREATE_TEAM = """
mutation CreateTeam($input: CreateTeamInput!) {
  createTeam(input: $input) { team { id } userErrors { code message field } }
}"""
ADD_TEAM_MEMBER = """
mutation AddTeamMember($input: AddTeamMemberInput!) {
  addTeamMember(input: $input) { team { id } userErrors { code message field } }
}"""
WITHDRAW = """
mutation Withdraw($input: WithdrawChangeRequestInput!) {
  withdrawChangeRequest(input: $input) { changeRequest { id } userErrors { code message field } }
}"""
ACCEPT_CONTRACT = """
mutation AcceptContract($input: AcceptContractInput!) {
  acceptContract(input: $input) { contract { id status } userErrors { code message field } }
}"""


@dataclass
class Side:
    """Who acts for a side (a person, or a team's ADMIN) and who else is on it."""

    actor: Party
    team_id: str | None = None


@dataclass
class Seeded:
    contract_id: str
    client: Side
    freelancer: Side
    milestone_ids: list[str]


def _person(sub: str, name: str) -> Party:
    from bench.api import JWT_SECRET, TOKEN_SECONDS
    from milestones.auth import issue_token

    email = f"{sub}@bench.example"
    token = issue_token(JWT_SECRET, sub, name=name, email=email, expires_in=TOKEN_SECONDS)
    return Party(sub, name, token)


async def _team(api: GraphQLClient, prefix: str) -> Side:
    """A team of TEAM_SIZE: an OWNER, an ADMIN who acts in the benchmark, and MEMBERs, every
    one of them signed in (so every one is notified)."""
    owner = _person(f"{prefix}-owner", f"{prefix} owner")
    await api.post(owner, ME)
    payload = await api.ok(owner, "createTeam", CREATE_TEAM, {"input": {"name": prefix}})
    team_id = payload["team"]["id"]
    admin = _person(f"{prefix}-admin", f"{prefix} admin")
    for number in range(1, TEAM_SIZE):
        person = admin if number == 1 else _person(f"{prefix}-{number}", f"{prefix} {number}")
        role = "ADMIN" if number == 1 else "MEMBER"
        await api.ok(
            owner,
            "addTeamMember",
            ADD_TEAM_MEMBER,
            {"input": {"teamId": team_id, "email": f"{person.sub}@bench.example", "role": role}},
        )
        await api.post(person, ME)
    return Side(admin, team_id)


async def _seed(api: GraphQLClient, client: Side, freelancer: Side, title: str) -> Seeded:
    extra: dict[str, Any] = {}
    if client.team_id is not None:
        extra["clientTeamId"] = client.team_id
    if freelancer.team_id is not None:
        extra["freelancerTeamId"] = freelancer.team_id
    else:
        extra["freelancerId"] = (await api.post(freelancer.actor, ME))["data"]["me"]["id"]
    payload = await api.ok(
        client.actor,
        "createContract",
        CREATE_CONTRACT,
        {"input": {"title": title, "currency": "USD", **extra}},
    )
    contract_id = payload["contract"]["id"]
    if _offers_exist():
        await api.ok(
            freelancer.actor,
            "acceptContract",
            ACCEPT_CONTRACT,
            {"input": {"contractId": contract_id}},
        )
    ids = []
    for number in range(1, MILESTONES + 1):
        added = await api.ok(
            client.actor,
            "addMilestone",
            ADD_MILESTONE,
            {"input": {"contractId": contract_id, "title": f"M{number}", "amount": "100.00"}},
        )
        ids.append(added["milestone"]["id"])
    return Seeded(contract_id, client, freelancer, ids)


def _offers_exist() -> bool:
    """Whether offers exist (an offer is accepted before work starts)."""
    from milestones.resolvers.mutations import Mutation

    return hasattr(Mutation, "accept_contract")


async def _interleaved(
    contracts: dict[str, Seeded], rounds: int, step: Callable[[Seeded, int], Awaitable[None]]
) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {kind: [] for kind in contracts}
    for number in range(rounds):
        order = ("solo", "team") if number % 2 == 0 else ("team", "solo")
        for kind in order:
            started = time.perf_counter()
            await step(contracts[kind], number)
            times[kind].append(time.perf_counter() - started)
    return times


async def run_team_cost(plan: Plan, report: Report, database_url: str) -> None:
    rounds = plan.team_requests
    async with in_process(database_url) as api:
        print(f"  teams: seeding two teams of {TEAM_SIZE} and two contracts ...", flush=True)
        solo = await _seed(
            api,
            Side(party("bench-solo-client", "Solo client")),
            Side(_person("bench-solo-freelancer", "Solo freelancer")),
            "Between two people",
        )
        client_team = await _team(api, "bench-client-co")
        # Before offers (acceptContract) existed the freelancer side could only be a person.
        freelancer_team = (
            await _freelancer_team(api)
            if _offers_exist()
            else Side(_person("bench-team-freelancer", "Team's freelancer"))
        )
        team = await _seed(api, client_team, freelancer_team, "Between two teams")
        contracts = {"solo": solo, "team": team}

        async def cached_room(contract: Seeded, number: int) -> None:
            await api.post(contract.client.actor, TEAM_ROOM_QUERY, {"id": contract.contract_id})

        async def executed_room(contract: Seeded, number: int) -> None:
            await api.post(contract.client.actor, EXECUTED_ROOM_QUERY, {"id": contract.contract_id})

        async def client_edits(contract: Seeded, number: int) -> None:
            await api.ok(
                contract.client.actor,
                "editMilestone",
                EDIT_MILESTONE,
                {"input": {"milestoneId": contract.milestone_ids[-1], "title": f"E{number}"}},
            )

        async def freelancer_proposes(contract: Seeded, number: int) -> None:
            payload = await api.ok(
                contract.freelancer.actor,
                "requestMilestoneChanges",
                REQUEST_CHANGES,
                {
                    "input": {
                        "contractId": contract.contract_id,
                        "changes": [{"kind": "ADD", "title": "Extra", "amount": "5.00"}],
                    }
                },
            )
            await api.ok(
                contract.freelancer.actor,
                "withdrawChangeRequest",
                WITHDRAW,
                {"input": {"changeRequestId": payload["changeRequest"]["id"]}},
            )

        steps: list[tuple[str, str, Callable[[Seeded, int], Awaitable[None]], int]] = [
            ("Room query (cached)", "req/s", cached_room, rounds),
            ("Room query (executed, not cached)", "req/s", executed_room, rounds),
            ("Mutation: editMilestone by the client side", "req/s", client_edits, rounds // 4),
            (
                "Mutations: requestMilestoneChanges + withdraw by the freelancer side",
                "cycles/s",
                freelancer_proposes,
                rounds // 8,
            ),
        ]
        for name, unit, step, count in steps:
            await _interleaved(contracts, WARMUP, step)
            print(f"  teams: {name}, {count} each, interleaved", flush=True)
            times = await _interleaved(contracts, count, step)
            solo_median, team_median = (statistics.median(times[k]) for k in ("solo", "team"))
            slower = team_median / solo_median
            report.add(
                Row(
                    benchmark=f"{name}: teams of {TEAM_SIZE} on both sides vs two people",
                    project=f"{1 / team_median:,.1f} {unit} ({team_median * 1000:.2f} ms)",
                    baselines=f"{1 / solo_median:,.1f} {unit} ({solo_median * 1000:.2f} ms)",
                    ratio=f"{slower:.2f}x time",
                    goal=f"<= {GOAL:g}x time",
                    reached=slower <= GOAL,
                )
            )
    report.note(
        f"Teams: one contract between two teams of {TEAM_SIZE} (every member signed in, so each"
        f" of the other side's {TEAM_SIZE} members is notified of every action) and one between"
        f" two people, {MILESTONES} milestones each, in one app on PostgreSQL (in-process,"
        " ASGI through httpx, rate limits off); requests to each in turn, order swapped each"
        f" time, {WARMUP} warm-up rounds; median request (cycle)."
    )


async def _freelancer_team(api: GraphQLClient) -> Side:
    """The agency: a team on the freelancer side (an offer to it, accepted by its ADMIN)."""
    return await _team(api, "bench-agency")
