"""Migrated databases for the tests: the migration chain runs once per session, then is copied.

Running the whole chain on an empty database costs about 3 s of CPU (Tortoise renders its model
state again for every operation), and well over a hundred tests start a server or an app on an
empty database: that was a third of the suite. Here the chain runs once per test process and
kind of database, into a template: a SQLite file that is copied, or a PostgreSQL database that
`CREATE DATABASE … TEMPLATE` copies. A server started on such a copy still runs its migration
step (a no-op plan). The chain itself stays tested: it builds each template, and
`tests/test_migrations_*.py`, `test_migration_offers.py` and `test_bigkeys.py` migrate old or
empty databases of their own.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    from tortoise.backends.base.client import BaseDBAsyncClient

MIGRATE_SECONDS = 120

_lock = threading.Lock()
_sqlite_template: Path | None = None
_postgres_templates: dict[str, str] = {}  # server (without database) -> template database name


def _migrate(database_url: str) -> None:
    """`milestones migrate` in a process of its own: no ORM state is shared with the tests."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MILESTONES_TEST_", "PYTEST_"))}
    env["DATABASE_URL"] = database_url
    done = subprocess.run(
        [sys.executable, "-m", "milestones.cli", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=MIGRATE_SECONDS,
    )
    if done.returncode != 0:
        raise RuntimeError(f"migrating {database_url} failed:\n{done.stdout}\n{done.stderr}")


def sqlite_template() -> Path:
    """A SQLite file with every migration applied (made on first use, removed at exit)."""
    global _sqlite_template
    with _lock:
        if _sqlite_template is None:
            folder = Path(tempfile.mkdtemp(prefix="milestones-template-"))
            atexit.register(shutil.rmtree, folder, True)
            path = folder / "milestones.sqlite3"
            _migrate(f"sqlite:///{path}")
            _sqlite_template = path
        return _sqlite_template


def migrated_sqlite_url(path: Path, *, options: str = "") -> str:
    """A copy of the migrated template at `path`, as a database URL."""
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(sqlite_template(), path)
    return f"sqlite:///{path}{options}"


def _admin_dsn(server_url: str) -> str:
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(scheme="postgresql", path="/postgres", query=""))


def _with_database(server_url: str, name: str) -> str:
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(scheme="postgres", path=f"/{name}", query=""))


def _execute(server_url: str, statement: str) -> None:
    """One statement on the server's `postgres` database, from a loop of its own (callers may
    be inside a running loop)."""
    import asyncpg

    async def run() -> None:
        connection = await asyncpg.connect(_admin_dsn(server_url), timeout=10)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, run()).result()


def postgres_template(server_url: str) -> str:
    """The name of a migrated template database on that server (made on first use; dropped by
    `drop_templates` at the end of the session)."""
    key = _admin_dsn(server_url)
    with _lock:
        name = _postgres_templates.get(key)
        if name is None:
            name = f"milestones_template_{secrets.token_hex(4)}"
            _execute(server_url, f'CREATE DATABASE "{name}"')
            _migrate(_with_database(server_url, name))
            _postgres_templates[key] = name
        return name


def drop_templates() -> None:
    """Drop the PostgreSQL templates this process made (at the end of the session)."""
    with _lock:
        for admin, name in _postgres_templates.items():
            _execute(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        _postgres_templates.clear()


def create_postgres_database(server_url: str, name: str, *, migrated: bool) -> str:
    """CREATE DATABASE `name` (a copy of the migrated template, or empty); returns its URL."""
    if migrated:
        template = postgres_template(server_url)
        _execute(server_url, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    else:
        _execute(server_url, f'CREATE DATABASE "{name}"')
    return _with_database(server_url, name)


def drop_postgres_database(server_url: str, name: str) -> None:
    _execute(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.asynccontextmanager
async def migrated_up_to(url: str, migration: str) -> AsyncIterator[BaseDBAsyncClient]:
    """The database at `url` migrated up to `migration` (an old release's schema), and a
    connection to it for the rows that release would have written; closed afterwards, so a
    test can then open it the way `milestones serve` does (`milestones.database.database`)."""
    from tortoise import connections
    from tortoise.context import TortoiseContext
    from tortoise.migrations.executor import MigrationExecutor, MigrationTarget

    from milestones.database import tortoise_config

    context = TortoiseContext()
    context.__enter__()
    try:
        config = tortoise_config(url)
        await context.init(config=config)
        connection = connections.get("default")
        await MigrationExecutor(connection, config["apps"]).migrate(
            [MigrationTarget("models", migration)]
        )
        yield connection
    finally:
        await context.close_connections()
        context.__exit__(None, None, None)
