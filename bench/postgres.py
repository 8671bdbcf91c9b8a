"""Throw-away PostgreSQL databases for one benchmark run."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import asyncpg

# The server to create databases on (its maintenance database); override with BENCH_POSTGRES_URL.
DEFAULT_SERVER_URL = "postgres://postgres@127.0.0.1:5432/postgres"


def server_url() -> str:
    return os.environ.get("BENCH_POSTGRES_URL") or DEFAULT_SERVER_URL


def asyncpg_dsn(url: str) -> str:
    """The same URL for asyncpg (which knows postgresql://, not Tortoise's options)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme="postgresql", query=""))


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


@dataclass
class Databases:
    """Databases named `<prefix>_<what>`, all dropped by `drop_all`."""

    prefix: str
    created: list[str]

    @classmethod
    def new(cls) -> Databases:
        return cls(f"milestones_bench_{secrets.token_hex(4)}", [])

    def url(self, what: str) -> str:
        return with_database(server_url(), f"{self.prefix}_{what}")

    async def create(self, what: str, *, template: str | None = None) -> str:
        name = f"{self.prefix}_{what}"
        connection = await asyncpg.connect(asyncpg_dsn(server_url()))
        try:
            if template is None:
                await connection.execute(f'CREATE DATABASE "{name}"')
            else:
                # A copy: same rows, same sequences (the source must have no connections).
                source = f"{self.prefix}_{template}"
                await connection.execute(f'CREATE DATABASE "{name}" TEMPLATE "{source}"')
        finally:
            await connection.close()
        self.created.append(name)
        return self.url(what)

    async def drop_all(self) -> None:
        connection = await asyncpg.connect(asyncpg_dsn(server_url()))
        try:
            for name in reversed(self.created):
                await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await connection.close()
        self.created.clear()
