"""Tortoise set-up, migrations, and the per-action transaction with the contract lock."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
from tortoise import connections
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.context import TortoiseContext, _current_context
from tortoise.migrations.executor import MigrationExecutor

MODELS_MODULE = "milestones.models"
MIGRATIONS_MODULE = "milestones.migrations"
MIGRATIONS_TABLE = "tortoise_migrations"


async def _session_as_left(connection: asyncpg.Connection) -> None:
    """What asyncpg's pool does to a connection it takes back, beyond what it always does (roll
    back a transaction left open, drop listeners): nothing. Its default sends one more statement
    per release (`SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL;`), a round
    trip after every transaction and every query outside one, to undo session state this app
    never leaves on a pooled connection: it sets no session variables, declares no cursors and
    listens on connections of its own (`live.brokers`); the one session lock (`pruning`) is
    released, or its connection closed, before the pool gets it back."""


# PostgreSQL connections a process keeps at most (`config.Settings.database_pool_size`).
DEFAULT_POOL_SIZE = 12


def connection_config(
    database_url: str, pool_size: int = DEFAULT_POOL_SIZE
) -> str | dict[str, Any]:
    """Tortoise's connection for the URL: PostgreSQL's pool of at most `pool_size` connections
    (unless the URL says `?maxsize=`), without the reset round trip."""
    config = expand_db_url(database_url)
    if config["engine"] != "tortoise.backends.asyncpg":
        return database_url
    config["credentials"]["reset"] = _session_as_left
    config["credentials"].setdefault("maxsize", pool_size)
    return config


def tortoise_config(database_url: str, pool_size: int = DEFAULT_POOL_SIZE) -> dict[str, Any]:
    return {
        "connections": {"default": connection_config(database_url, pool_size)},
        "apps": {
            "models": {
                "models": [MODELS_MODULE],
                "default_connection": "default",
                "migrations": MIGRATIONS_MODULE,
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


# Tortoise reads this for `tortoise makemigrations` (pyproject: [tool.tortoise]).
TORTOISE_ORM = tortoise_config("sqlite://milestones.sqlite3")


@contextlib.asynccontextmanager
async def database(database_url: str, pool_size: int = DEFAULT_POOL_SIZE) -> AsyncIterator[None]:
    """The ORM for this process (visible to every task), migrated; closed on exit."""
    context = TortoiseContext()
    context.__enter__()
    try:
        config = tortoise_config(database_url, pool_size)
        await context.init(config=config, _enable_global_fallback=True)
        await apply_migrations(config)
        yield
    finally:
        await context.close_connections()
        try:
            context.__exit__(None, None, None)
        except ValueError:  # shut down from another asyncio context than it started in
            _current_context.set(None)


async def apply_migrations(config: dict[str, Any]) -> None:
    """Every pending migration. On SQLite, with foreign keys off while they run: SQLite alters
    a column by rebuilding its table, and dropping the old table with foreign keys on deletes
    the rows that point at it (ON DELETE CASCADE: the notifications of rebuilt events) or
    fails. The keys are checked once the migrations are done, and turned on again."""
    connection = connections.get("default")
    executor = MigrationExecutor(connection, config["apps"])
    if connection.capabilities.dialect != "sqlite" or not await executor.plan():
        await executor.migrate()
        return
    await connection.execute_script("PRAGMA foreign_keys=OFF")
    try:
        before = len(await connection.execute_query_dict("PRAGMA foreign_key_check"))
        await executor.migrate()
        broken = await connection.execute_query_dict("PRAGMA foreign_key_check")
        if len(broken) > before:
            raise RuntimeError(f"the migrations left rows pointing nowhere: {broken[:5]}")
    finally:
        await connection.execute_script("PRAGMA foreign_keys=ON")


async def reset_tables() -> None:
    """Empty every table but the migrations log, and restart the ids (tests on a shared
    database). Children first, in one round trip; DELETE rather than TRUNCATE: on tables this
    small it costs about 8 ms instead of 70 (TRUNCATE makes new files for every table)."""
    from milestones import models

    connection = connections.get("default")
    tables = [
        model._meta.db_table
        for model in (
            models.AttachmentChunk,
            models.Attachment,
            models.Submission,
            models.WebhookDelivery,
            models.WebhookEndpoint,
            models.EmailOutbox,
            models.Notification,
            models.ContractEvent,
            models.Dispute,
            models.IdempotencyRecord,
            models.LedgerEntry,
            models.RefundRequest,
            models.MilestoneChange,
            models.ChangeRequest,
            models.Milestone,
            models.Contract,
            models.TeamMember,
            models.Team,
            models.User,
        )
    ]
    statements = [f"DELETE FROM {table}" for table in tables]
    if connection.capabilities.dialect == "postgres":
        statements += [
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), 1, false)" for table in tables
        ]
    await connection.execute_script(";\n".join(statements))
