"""Tortoise set-up, migrations, and the per-action transaction with the contract lock."""

from __future__ import annotations

import asyncio
from typing import Any

from tortoise import Tortoise, connections
from tortoise.migrations.executor import MigrationExecutor

MODELS_MODULE = "milestones.models"
MIGRATIONS_MODULE = "milestones.migrations"
MIGRATIONS_TABLE = "tortoise_migrations"


def tortoise_config(database_url: str) -> dict[str, Any]:
    return {
        "connections": {"default": database_url},
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


async def init_database(database_url: str) -> None:
    """Initialise the ORM for this process (visible to every task) and apply migrations."""
    config = tortoise_config(database_url)
    await Tortoise.init(config=config, _enable_global_fallback=True)
    await apply_migrations(config)


async def apply_migrations(config: dict[str, Any]) -> None:
    connection = connections.get("default")
    executor = MigrationExecutor(connection, config["apps"])
    await executor.migrate()


async def close_database() -> None:
    await Tortoise.close_connections()


def is_sqlite() -> bool:
    return connections.get("default").capabilities.dialect == "sqlite"


# SQLite is the single-process embedded default: one write action at a time.
_sqlite_write_lock = asyncio.Lock()


def sqlite_write_lock() -> asyncio.Lock:
    return _sqlite_write_lock


async def reset_tables() -> None:
    """Empty every table but the migrations log (tests on a shared database)."""
    from milestones import models

    connection = connections.get("default")
    tables = [
        model._meta.db_table
        for model in (
            models.EmailOutbox,
            models.Notification,
            models.ContractEvent,
            models.IdempotencyRecord,
            models.LedgerEntry,
            models.RefundRequest,
            models.MilestoneChange,
            models.ChangeRequest,
            models.Milestone,
            models.Contract,
            models.User,
        )
    ]
    if connection.capabilities.dialect == "postgres":
        await connection.execute_script(
            f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"
        )
    else:
        for table in tables:
            await connection.execute_script(f"DELETE FROM {table}")
