"""Deadlines (review, refund response, dispute response) against real `milestones serve`
processes with short windows: on SQLite one server, on PostgreSQL two on one database. Every
deadline acts exactly once, by itself, and both parties are told."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from milestones.auth import issue_token
from tests.conftest import (
    TEST_JWT_SECRET,
    Actor,
    is_postgres_url,
    postgres_unavailable,
    require_service,
    test_database_url,
    test_postgres_url,
)
from tests.databases import migrated_sqlite_url
from tests.helpers import (
    Room,
    assert_escrow_consistent,
    create_contract_with_milestones,
    event_kinds,
    notification_nodes,
)
from tests.security.servers import fresh_postgres_database, serve, server_environment

POSTGRES = is_postgres_url(test_database_url())
BACKEND = pytest.param(
    "postgres" if POSTGRES else "sqlite", marks=[pytest.mark.postgres] if POSTGRES else []
)
WINDOWS = {
    "REVIEW_WINDOW": "2s",
    "REFUND_RESPONSE_WINDOW": "2s",
    "DISPUTE_RESPONSE_WINDOW": "2s",
    "REMINDER_BEFORE": "1d",
}
AUTOMATIC = ("MILESTONE_AUTO_RELEASED", "REFUND_AUTO_ACCEPTED", "DISPUTE_AUTO_RESOLVED")
# How long the test waits for the deadlines at most; they act within about a second.
PATIENCE_SECONDS = 60.0


@dataclass
class Served:
    database_url: str
    clients: list[httpx.AsyncClient]

    def actors(self, sub: str) -> list[Actor]:
        token = issue_token(TEST_JWT_SECRET, sub, name=sub.title())
        return [Actor(http, sub, token) for http in self.clients]


@pytest.fixture(params=[BACKEND])
async def served(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Served]:
    if request.param == "postgres":
        require_service(postgres_unavailable(test_postgres_url()))
        with fresh_postgres_database(test_postgres_url()) as database_url:
            env = server_environment(database_url, **WINDOWS)
            async with serve(env, tmp_path / "logs", count=2) as urls:
                yield await _served(database_url, urls)
    else:
        database_url = migrated_sqlite_url(tmp_path / "deadlines.sqlite3")
        async with serve(server_environment(database_url, **WINDOWS), tmp_path / "logs") as urls:
            yield await _served(database_url, urls)


async def _served(database_url: str, urls: list[str]) -> Served:
    return Served(database_url, [httpx.AsyncClient(base_url=url, timeout=60.0) for url in urls])


def _check_invariants(database_url: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "milestones.cli", "check-invariants", "--database-url",
         database_url],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


async def _settled(rooms: list[Room], kind: str) -> list[dict[str, object]]:
    loop = asyncio.get_running_loop()
    give_up = loop.time() + PATIENCE_SECONDS
    while True:
        states = [await room.read() for room in rooms]
        if all(kind in event_kinds(state) for state in states) or loop.time() > give_up:
            return states
        await asyncio.sleep(0.5)


async def test_every_deadline_acts_exactly_once_and_tells_both_parties(served: Served) -> None:
    clients, freelancers = served.actors("client"), served.actors("freelancer")
    try:
        reviews, refunds, disputes = [], [], []
        for index in range(6):
            # Set through every server in turn: whichever instance acts, it acts once.
            client = clients[index % len(clients)]
            freelancer = freelancers[(index + 1) % len(freelancers)]
            room = await create_contract_with_milestones(client, freelancer, ["10.00"])
            await room.activate(0)
            await room.submit(0)
            if index % 3 == 1:
                await room.request_refund(0)
                refunds.append(room)
            elif index % 3 == 2:
                # The client withholds payment: rejected (no review deadline runs), disputed.
                await room.reject(0)
                await room.open_dispute(milestoneId=room.milestone(0))
                disputes.append(room)
            else:
                reviews.append(room)

        for rooms, kind, status in (
            (reviews, "MILESTONE_AUTO_RELEASED", "RELEASED"),
            (refunds, "REFUND_AUTO_ACCEPTED", "REFUNDED"),
            (disputes, "DISPUTE_AUTO_RESOLVED", "RELEASED"),
        ):
            for state in await _settled(rooms, kind):
                assert event_kinds(state).count(kind) == 1, event_kinds(state)
                assert state["events"]["edges"][-1]["node"]["actor"] is None
                assert state["milestones"][0]["status"] == status
                assert_escrow_consistent(state)
            for actor in (clients[0], freelancers[0]):
                told = [n for n in await notification_nodes(actor) if n["kind"] == kind]
                assert len(told) == len(rooms), told
                assert all(n["actor"] is None for n in told)
        # A little later, nothing more has happened (no second action on any instance).
        await asyncio.sleep(2.5)
        for room in reviews + refunds + disputes:
            kinds = event_kinds(await room.read())
            assert sum(kinds.count(kind) for kind in AUTOMATIC) == 1, kinds
        _check_invariants(served.database_url)
    finally:
        for http in served.clients:
            await http.aclose()
