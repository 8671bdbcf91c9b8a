"""Migrating a database made by the release before offers (migrations up to 0007_protection):
its contracts become ACTIVE (or stay ENDED) with their two people as parties, keep their
milestones, events and notifications, and read through the API as before; on SQLite (whose
column changes rebuild the table) and on PostgreSQL.

The old rows are written with raw SQL, the way that release wrote them, then the app starts
(which migrates to the head) and is asked through GraphQL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from tortoise import connections
from tortoise.context import TortoiseContext
from tortoise.migrations.executor import MigrationExecutor, MigrationTarget

from milestones.auth import issue_token
from milestones.config import Settings
from milestones.database import tortoise_config
from tests.conftest import (
    TEST_JWT_SECRET,
    _with_lifespan_state,
    is_postgres_url,
    postgres_unavailable,
    require_service,
    test_database_url,
    test_postgres_url,
)
from tests.subscriptions.servers import fresh_postgres_database

PREVIOUS_RELEASE = MigrationTarget("models", "0007_protection")
T0 = dt.datetime(2026, 11, 2, 9, 30, tzinfo=dt.UTC)

# (table, columns, rows): what the previous release stored for two contracts between Cleo and
# Fred, one ACTIVE with a funded milestone, one ENDED.
OLD_ROWS: list[tuple[str, tuple[str, ...], list[tuple[Any, ...]]]] = [
    (
        "users",
        ("id", "sub", "name", "email", "notification_seq", "created_at", "updated_at"),
        [
            (1, "cleo", "Cleo Client", "Cleo@Example.com ", 1, T0, T0),
            (2, "fred", "Fred Freelancer", "fred@example.com", 3, T0, T0),
        ],
    ),
    (
        "contracts",
        (
            "id",
            "title",
            "currency",
            "status",
            "event_seq",
            "created_at",
            "ended_at",
            "client_id",
            "freelancer_id",
        ),
        [
            (1, "Website", "USD", "ACTIVE", 3, T0, None, 1, 2),
            (2, "Logo", "EUR", "ENDED", 2, T0, T0 + dt.timedelta(days=3), 1, 2),
        ],
    ),
    (
        "milestones",
        (
            "id",
            "position",
            "title",
            "description",
            "due_date",
            "amount",
            "status",
            "version",
            "deleted_at",
            "created_at",
            "updated_at",
            "contract_id",
            "activated_at",
        ),
        [(1, 1, "Design", None, None, 15000, "ACTIVE", 1, None, T0, T0, 1, T0)],
    ),
    (
        "ledger_entries",
        ("id", "contract_id", "milestone_id", "kind", "amount", "created_at"),
        [(1, 1, 1, "DEPOSIT", 15000, T0), (2, 1, 1, "ALLOCATE", 15000, T0)],
    ),
    (
        "contract_events",
        ("id", "contract_id", "seq", "kind", "actor_id", "milestone_id", "occurred_at"),
        [
            (1, 1, 1, "CONTRACT_CREATED", 1, None, T0),
            (2, 1, 2, "MILESTONE_ADDED", 1, 1, T0),
            (3, 1, 3, "MILESTONE_ACTIVATED", 1, 1, T0),
            (4, 2, 1, "CONTRACT_CREATED", 1, None, T0),
            (5, 2, 2, "CONTRACT_ENDED", 2, None, T0),
        ],
    ),
    (
        "notifications",
        (
            "id",
            "recipient_id",
            "seq",
            "event_id",
            "kind",
            "contract_id",
            "actor_id",
            "message",
            "created_at",
        ),
        [
            (1, 2, 1, 1, "CONTRACT_CREATED", 1, 1, "Cleo started “Website”.", T0),
            (2, 2, 2, 2, "MILESTONE_ADDED", 1, 1, "Cleo added “Design”.", T0),
            (3, 2, 3, 3, "MILESTONE_ACTIVATED", 1, 1, "Cleo funded “Design”.", T0),
            (4, 1, 1, 5, "CONTRACT_ENDED", 2, 2, "Fred ended “Logo”.", T0),
        ],
    ),
]

ROOM = """
query Room($id: ID!) {
  contract(id: $id) {
    id title currency status acceptedAt endedAt invitedEmail viewerRole
    client { id } freelancer { id }
    milestones { title status fundedAmount }
    escrow { held totalFunded }
    events { edges { node { kind } } }
  }
}"""


async def _previous_release(url: str) -> None:
    """Migrate `url` as the previous release did, and write its rows with raw SQL."""
    context = TortoiseContext()
    context.__enter__()
    try:
        config = tortoise_config(url)
        await context.init(config=config, _enable_global_fallback=True)
        connection = connections.get("default")
        await MigrationExecutor(connection, config["apps"]).migrate([PREVIOUS_RELEASE])
        postgres = connection.capabilities.dialect == "postgres"
        for table, columns, rows in OLD_ROWS:
            marks = ", ".join(f"${n}" if postgres else "?" for n in range(1, len(columns) + 1))
            sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
            for values in rows:
                await connection.execute_query(sql, list(values))
            if postgres:  # the ids were given: move the sequence past them
                await connection.execute_script(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"
                )
    finally:
        await context.close_connections()
        context.__exit__(None, None, None)


@asynccontextmanager
async def _serving(url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The app on `url` (its start migrates to the head), over in-process HTTP."""
    from milestones.app import create_app

    settings = Settings(
        database_url=url,
        broadcast_url="memory://",
        jwt_secret=TEST_JWT_SECRET,
        smtp_url=None,
        milestones_env="development",
    )
    application = create_app(settings)
    async with application.router.lifespan_context(application) as state:
        transport = httpx.ASGITransport(app=_with_lifespan_state(application, state))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http


async def _ask(http: httpx.AsyncClient, sub: str, query: str, variables: Any = None) -> Any:
    token = issue_token(TEST_JWT_SECRET, sub, email=None)
    response = await http.post(
        "/graphql",
        json={"query": query, "variables": variables or {}},
        headers={"Authorization": f"Bearer {token}"},
    )
    body = response.json()
    assert not body.get("errors"), body
    return body["data"]


async def _check_migrated(url: str) -> None:
    async with _serving(url) as http:
        contracts = await _ask(http, "fred", "{ contracts { edges { node { id status } } } }")
        listed = [edge["node"] for edge in contracts["contracts"]["edges"]]
        assert [node["status"] for node in listed] == ["ENDED", "ACTIVE"]
        website = (await _ask(http, "cleo", ROOM, {"id": listed[1]["id"]}))["contract"]
        me = (await _ask(http, "fred", "{ me { id } }"))["me"]["id"]
        assert website["status"] == "ACTIVE" and website["freelancer"]["id"] == me
        assert website["acceptedAt"] is not None and website["invitedEmail"] is None
        assert website["milestones"] == [
            {"title": "Design", "status": "ACTIVE", "fundedAmount": "150.00"}
        ]
        assert website["escrow"] == {"held": "150.00", "totalFunded": "150.00"}
        kinds = [edge["node"]["kind"] for edge in website["events"]["edges"]]
        assert kinds == ["CONTRACT_CREATED", "MILESTONE_ADDED", "MILESTONE_ACTIVATED"]
        logo = (await _ask(http, "fred", ROOM, {"id": listed[0]["id"]}))["contract"]
        assert (logo["status"], logo["viewerRole"]) == ("ENDED", "FREELANCER")
        assert logo["endedAt"] is not None
        notifications = await _ask(http, "fred", "{ notifications { edges { node { kind } } } }")
        assert len(notifications["notifications"]["edges"]) == 3
        # The migrated contract works on: the freelancer submits, the client approves.
        milestone = await _ask(
            http,
            "cleo",
            "query($id: ID!) { contract(id: $id) { activeMilestone { id } } }",
            {"id": listed[1]["id"]},
        )
        milestone_id = milestone["contract"]["activeMilestone"]["id"]
        submitted = await _ask(
            http,
            "fred",
            "mutation($id: ID!) { submitMilestone(input: {milestoneId: $id})"
            " { milestone { status } userErrors { code } } }",
            {"id": milestone_id},
        )
        assert submitted["submitMilestone"]["milestone"]["status"] == "SUBMITTED"
        # A new contract between them is an offer; users found by their stored email.
        offered = await _ask(
            http,
            "fred",
            'mutation { createContract(input: {title: "Next", freelancerEmail: "cleo@example.com"})'
            " { contract { status freelancer { id } } userErrors { code field } } }",
        )
        assert offered["createContract"]["userErrors"] == []
        assert offered["createContract"]["contract"]["status"] == "OFFERED"
        mine = await _ask(http, "cleo", "{ contracts(status: OFFERED) { edges { node { id } } } }")
        assert len(mine["contracts"]["edges"]) == 1


async def test_a_database_of_the_previous_release_migrates(tmp_path: Path) -> None:
    """On the suite's database kind (`make test`: SQLite, `make test-postgres`: PostgreSQL;
    one kind per process, as Tortoise caches its SQL per model)."""
    if not is_postgres_url(test_database_url()):
        url = f"sqlite:///{tmp_path / 'previous.sqlite3'}"
        await _previous_release(url)
        await _check_migrated(url)
        return
    server = test_postgres_url()
    require_service(postgres_unavailable(server))
    async with fresh_postgres_database(server, migrated=False) as url:
        await _previous_release(url)
        await _check_migrated(url)
