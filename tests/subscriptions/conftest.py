"""Subscriptions over a real socket: the test app served by uvicorn in the test's own loop.

The broker follows the pass: on the SQLite pass the in-process `memory://` broadcast; on the
PostgreSQL pass (MILESTONES_TEST_DATABASE_URL=postgres://…) Redis, so the same tests cover
PostgreSQL + Redis. MILESTONES_TEST_BROADCAST_URL overrides the choice.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from starlette.applications import Starlette

from milestones.config import Settings
from tests.conftest import (
    TEST_JWT_SECRET,
    is_postgres_url,
    migrated_database_url,
    redis_unavailable,
    require_service,
    test_database_url,
    test_redis_url,
)
from tests.subscriptions.wsclient import served_ws_url

CONNECTION_INIT_TIMEOUT_SECONDS = 1.0


def test_broadcast_url() -> str:
    chosen = os.environ.get("MILESTONES_TEST_BROADCAST_URL")
    if chosen:
        return chosen
    return test_redis_url() if is_postgres_url(test_database_url()) else "memory://"


test_broadcast_url.__test__ = False  # type: ignore[attr-defined]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    broadcast_url = test_broadcast_url()
    if broadcast_url.startswith("redis"):
        require_service(redis_unavailable(broadcast_url))
    return Settings(
        database_url=migrated_database_url(tmp_path),
        broadcast_url=broadcast_url,
        jwt_secret=TEST_JWT_SECRET,
        smtp_url=None,
        milestones_env="development",
        connection_init_wait_timeout=CONNECTION_INIT_TIMEOUT_SECONDS,
    )


@pytest.fixture
async def server_url(app: Starlette) -> AsyncIterator[str]:
    """ws://… of a uvicorn server on a free loopback port, serving the test's app."""
    async with served_ws_url(app) as url:
        yield url
