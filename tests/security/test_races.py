"""Races, with real parallel HTTP requests against real server processes.

On the PostgreSQL pass: two `milestones serve` processes on one fresh database (and Redis for
their broadcast), requests spread over both, so only the database's row locks and constraints
keep them apart. On the SQLite pass: one process (SQLite's deployment), same tests, same
answers. After every race the escrow identities hold and `milestones check-invariants` finds
nothing wrong in the whole database.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from milestones.auth import issue_token
from tests.conftest import (
    TEST_JWT_SECRET,
    Actor,
    is_postgres_url,
    postgres_unavailable,
    redis_unavailable,
    require_service,
    test_database_url,
    test_postgres_url,
    test_redis_url,
)
from tests.databases import migrated_sqlite_url
from tests.helpers import (
    MUTATIONS,
    Room,
    assert_escrow_consistent,
    create_contract_with_milestones,
    event_kinds,
    money,
)
from tests.security.servers import fresh_postgres_database, serve, server_environment

N = 8
POSTGRES = is_postgres_url(test_database_url())
BACKEND = pytest.param(
    "postgres" if POSTGRES else "sqlite",
    marks=[pytest.mark.postgres, pytest.mark.redis] if POSTGRES else [],
)
REDIS_DATABASE = 5  # its own Redis database: the broadcast of these servers only


@dataclass
class Cluster:
    """The servers of one race test, and who talks to which."""

    database_url: str
    clients: list[httpx.AsyncClient]

    def actors(self, sub: str) -> list[Actor]:
        """The same person once per server."""
        token = issue_token(TEST_JWT_SECRET, sub, name=sub.title())
        return [Actor(http, sub, token) for http in self.clients]

    def check_invariants(self) -> str:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "milestones.cli",
                "check-invariants",
                "--database-url",
                self.database_url,
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout


@pytest.fixture(params=[BACKEND])
async def cluster(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Cluster]:
    if request.param == "postgres":
        require_service(postgres_unavailable(test_postgres_url()))
        redis = test_redis_url()
        require_service(redis_unavailable(redis))
        broadcast = redis.rsplit("/", 1)[0] + f"/{REDIS_DATABASE}"
        with fresh_postgres_database(test_postgres_url()) as database_url:
            env = server_environment(database_url, BROADCAST_URL=broadcast)
            async with serve(env, tmp_path / "logs", count=2) as urls:
                async with _clients(urls) as clients:
                    yield Cluster(database_url, clients)
    else:
        database_url = migrated_sqlite_url(tmp_path / "races.sqlite3")
        async with serve(server_environment(database_url), tmp_path / "logs") as urls:
            async with _clients(urls) as clients:
                yield Cluster(database_url, clients)


class _clients:
    def __init__(self, urls: list[str]) -> None:
        self.clients = [httpx.AsyncClient(base_url=url, timeout=60.0) for url in urls]

    async def __aenter__(self) -> list[httpx.AsyncClient]:
        return self.clients

    async def __aexit__(self, *exc: object) -> None:
        for http in self.clients:
            await http.aclose()


async def _room(cluster: Cluster, amounts: list[str]) -> tuple[Room, list[Actor], list[Actor]]:
    clients, freelancers = cluster.actors("client"), cluster.actors("freelancer")
    room = await create_contract_with_milestones(clients[0], freelancers[0], amounts)
    return room, clients, freelancers


async def _all(actors: list[Actor], calls: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    """Every call at once, call i through server i mod the number of servers."""

    async def one(index: int, name: str, input: dict[str, Any]) -> Any:
        body = await actors[index % len(actors)].post(MUTATIONS[name], {"input": input})
        assert not body.get("errors"), body  # a race is refused as data, never as a crash
        return body["data"][name]

    return await asyncio.gather(*(one(i, name, input) for i, (name, input) in enumerate(calls)))


def _codes(payloads: list[Any]) -> Counter[str]:
    return Counter(
        "OK" if not payload["userErrors"] else payload["userErrors"][0]["code"]
        for payload in payloads
    )


async def test_concurrent_activations_of_different_milestones_fund_exactly_one(
    cluster: Cluster,
) -> None:
    amounts = [f"{100 + n}.00" for n in range(N)]
    room, clients, _ = await _room(cluster, amounts)
    payloads = await _all(
        clients, [("activateMilestone", {"milestoneId": m}) for m in room.milestone_ids]
    )
    assert _codes(payloads) == {"OK": 1, "ANOTHER_MILESTONE_ACTIVE": N - 1}
    [winner] = [p["milestone"] for p in payloads if not p["userErrors"]]
    state = await room.read()
    assert [m["id"] for m in state["milestones"] if m["status"] == "ACTIVE"] == [winner["id"]]
    assert money(state["escrow"]["totalFunded"]) == money(winner["amount"])
    assert event_kinds(state).count("MILESTONE_ACTIVATED") == 1
    assert_escrow_consistent(state)
    cluster.check_invariants()


async def test_concurrent_approvals_of_one_milestone_release_once(cluster: Cluster) -> None:
    room, clients, _ = await _room(cluster, ["500.00", "10.00"])
    await room.activate(0)
    approve = {"milestoneId": room.milestone(0), "endContract": False}
    payloads = await _all(clients, [("approveMilestone", approve)] * N)
    assert _codes(payloads) == {"OK": 1, "MILESTONE_NOT_ACTIVE": N - 1}
    state = await room.read()
    assert state["escrow"]["totalReleased"] == "500.00"
    assert state["escrow"]["totalFunded"] == "500.00"
    assert event_kinds(state).count("MILESTONE_APPROVED") == 1
    assert_escrow_consistent(state)
    cluster.check_invariants()


async def test_a_change_request_racing_client_edits_never_lets_both_through(
    cluster: Cluster,
) -> None:
    room, clients, freelancers = await _room(cluster, ["100.00", "200.00"])
    change = {
        "contractId": room.contract_id,
        "changes": [{"kind": "ADD", "title": "More", "amount": "5"}],
    }
    edits_before_requests = 0
    for round_number in range(3):
        edits = [
            ("editMilestone", {"milestoneId": room.milestone(1), "title": f"r{round_number}e{n}"})
            for n in range(N - 1)
        ]
        # The change request goes in the middle of the client's edits, on the other server.
        calls = [*edits[: N // 2], ("requestMilestoneChanges", change), *edits[N // 2 :]]
        actors = [freelancers[i % len(freelancers)] if name == "requestMilestoneChanges"
                  else clients[i % len(clients)] for i, (name, _) in enumerate(calls)]  # fmt: skip
        payloads = await asyncio.gather(
            *(_one(actor, name, input) for actor, (name, input) in zip(actors, calls, strict=True))
        )
        request = payloads[N // 2]
        assert request["userErrors"] == [], request
        edit_codes = _codes(payloads[: N // 2] + payloads[N // 2 + 1 :])
        assert set(edit_codes) <= {"OK", "CHANGE_REQUEST_PENDING"}, edit_codes
        state = await room.read()
        kinds = event_kinds(state)
        submitted_at = len(kinds) - 1 - kinds[::-1].index("CHANGE_REQUEST_SUBMITTED")
        # Never both: no edit is applied once the request is pending.
        assert "MILESTONE_EDITED" not in kinds[submitted_at:], kinds
        edited_this_round = kinds[:submitted_at].count("MILESTONE_EDITED") - edits_before_requests
        assert edited_this_round == edit_codes["OK"], (kinds, edit_codes)
        edits_before_requests += edited_this_round
        milestone = next(m for m in state["milestones"] if m["id"] == room.milestone(1))
        assert milestone["version"] == 1 + edits_before_requests
        withdrawn = await _one(
            freelancers[0],
            "withdrawChangeRequest",
            {"changeRequestId": request["changeRequest"]["id"]},
        )
        assert withdrawn["userErrors"] == [], withdrawn
    cluster.check_invariants()


async def _one(actor: Actor, name: str, input: dict[str, Any]) -> Any:
    body = await actor.post(MUTATIONS[name], {"input": input})
    assert not body.get("errors"), body
    return body["data"][name]


async def test_the_same_idempotency_key_sent_concurrently_has_one_effect(
    cluster: Cluster,
) -> None:
    room, clients, _ = await _room(cluster, ["300.00", "40.00"])
    activate = {"milestoneId": room.milestone(0), "idempotencyKey": "activate-once"}
    payloads = await _all(clients, [("activateMilestone", activate)] * N)
    assert _codes(payloads) == {"OK": N}
    assert len({str(p["milestone"]) for p in payloads}) == 1, "every repeat gets the first payload"
    approve = {
        "milestoneId": room.milestone(0),
        "endContract": False,
        "releaseAmount": "120.00",
        "idempotencyKey": "approve-once",
    }
    payloads = await _all(clients, [("approveMilestone", approve)] * N)
    assert _codes(payloads) == {"OK": N}
    assert len({str(p["contract"]["escrow"]) for p in payloads}) == 1
    state = await room.read()
    kinds = event_kinds(state)
    assert (kinds.count("MILESTONE_ACTIVATED"), kinds.count("MILESTONE_APPROVED")) == (1, 1)
    assert state["escrow"] == {
        "held": "180.00",
        "available": "180.00",
        "totalFunded": "300.00",
        "totalReleased": "120.00",
        "totalRefunded": "0.00",
        "totalBonus": "0.00",
    }
    assert_escrow_consistent(state)
    cluster.check_invariants()
