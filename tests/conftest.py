"""The shared test harness: one app per test, driven over HTTP as real users would.

Fixtures:
    settings    test settings (database from MILESTONES_TEST_DATABASE_URL, default in-memory
                SQLite; in-process broadcast; a fixed JWT secret; no SMTP)
    app         ``create_app(settings)`` with its lifespan running (ORM up, migrations
                applied; on a persistent database every table is emptied first)
    api         an ``ApiClient``: ``.actor(sub, name=None, email=None)``, ``.anonymous``,
                ``.http`` (httpx client on the app), ``.settings``
    client, freelancer, outsider, anonymous
                ready-made ``Actor``s
    postgres_url, redis_url
                URLs of the PostgreSQL / Redis servers for tests that need one

Rate limits are off for the whole suite (the environment below, inherited by every `Settings()`
and every `milestones serve` a test starts); the tests of the limits turn them on explicitly.

Services: under ``CI=true`` a missing service fails the run (an unreachable PostgreSQL test
database stops the session; tests marked ``postgres`` / ``redis`` fail); locally they skip.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from starlette.applications import Starlette
from starlette.types import ASGIApp, Receive, Scope, Send

from milestones.auth import issue_token
from milestones.config import Settings
from milestones.domain import escrow

TEST_JWT_SECRET = "milestones-test-secret-not-for-production-0123456789"
RATE_LIMITS_OFF = {
    "RATE_LIMIT_QUERIES": "off",
    "RATE_LIMIT_MUTATIONS": "off",
    "RATE_LIMIT_NOTIFYING": "off",
    "RATE_LIMIT_SUBSCRIPTIONS": "off",
}
os.environ.update(RATE_LIMITS_OFF)
# An app started in this process (hundreds per run) would freeze the suite's heap each time;
# tests/test_gc_tuning.py starts one that does.
os.environ["GC_TUNING"] = "false"
# Every escrow summary an action derives instead of reading is read too and compared, in every
# test that runs an action in this process (tests/perf/test_mutation_sql_count.py turns it off
# to count what production sends).
escrow.verify_derived = True
DEFAULT_TEST_DATABASE_URL = "sqlite://:memory:"
DEFAULT_TEST_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/postgres"
DEFAULT_TEST_REDIS_URL = "redis://127.0.0.1:6379/0"
SERVICE_TIMEOUT_SECONDS = 5.0

# --- where the services are -------------------------------------------------------------


def test_database_url() -> str:
    """The database URL the suite runs against (MILESTONES_TEST_DATABASE_URL or SQLite)."""
    return os.environ.get("MILESTONES_TEST_DATABASE_URL") or DEFAULT_TEST_DATABASE_URL


test_database_url.__test__ = False  # type: ignore[attr-defined]  # importable, not collected


def is_postgres_url(url: str) -> bool:
    return urlsplit(url).scheme in {"postgres", "postgresql", "asyncpg", "psycopg"}


def is_memory_database(url: str) -> bool:
    return url.startswith("sqlite://") and ":memory:" in url


def test_postgres_url() -> str:
    """A PostgreSQL server for tests marked ``postgres``: the test database when it is one."""
    if is_postgres_url(test_database_url()):
        return test_database_url()
    return os.environ.get("MILESTONES_TEST_POSTGRES_URL") or DEFAULT_TEST_POSTGRES_URL


test_postgres_url.__test__ = False  # type: ignore[attr-defined]


def xdist_worker_index() -> int | None:
    """Which pytest-xdist worker runs this process (`make test` runs two), or None."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")  # "gw0", "gw1", ...
    return int(worker.removeprefix("gw")) if worker else None


REDIS_DATABASES_PER_WORKER = 4  # Redis has 16: up to four workers, each with four of its own


def test_redis_url(scratch: int = 0) -> str:
    """The Redis database for tests; `scratch` (1 to 3) names a spare one for a test that must
    not share the main one. Each xdist worker has databases of its own, so the workers' rate
    limits and broadcast channels (scoped by database, see `topic_for`) never meet."""
    assert 0 <= scratch < REDIS_DATABASES_PER_WORKER, scratch
    parts = urlsplit(os.environ.get("MILESTONES_TEST_REDIS_URL") or DEFAULT_TEST_REDIS_URL)
    first = int(parts.path.strip("/") or 0)
    database = first + (xdist_worker_index() or 0) * REDIS_DATABASES_PER_WORKER + scratch
    assert database < 16, f"no Redis database {database}: run at most four xdist workers"
    return urlunsplit(parts._replace(path=f"/{database}"))


test_redis_url.__test__ = False  # type: ignore[attr-defined]


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


async def _postgres_answers(url: str) -> None:
    import asyncpg

    # Tortoise-specific query options (minsize, maxsize, ...) mean nothing to asyncpg.
    parts = urlsplit(url)
    dsn = urlunsplit(parts._replace(scheme="postgresql", query=""))
    connection = await asyncpg.connect(dsn, timeout=SERVICE_TIMEOUT_SECONDS)
    try:
        await connection.fetchval("SELECT 1")
    finally:
        await connection.close()


@cache
def postgres_unavailable(url: str) -> str | None:
    """Why the PostgreSQL database at ``url`` cannot be used, or None when it can."""
    # Its own thread and loop: this may be asked from inside a running test's event loop.
    with ThreadPoolExecutor(max_workers=1) as pool:
        check = pool.submit(asyncio.run, _postgres_answers(url))
    try:
        check.result()
    except Exception as error:
        return f"PostgreSQL at {_redacted(url)} is unreachable: {type(error).__name__}: {error}"
    return None


@cache
def redis_unavailable(url: str) -> str | None:
    """Why the Redis server at ``url`` cannot be used, or None when it can."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 6379
    try:
        with socket.create_connection((host, port), timeout=SERVICE_TIMEOUT_SECONDS) as sock:
            sock.sendall(b"PING\r\n")
            reply = sock.recv(64)
    except OSError as error:
        return f"Redis at {host}:{port} is unreachable: {error}"
    if not reply.startswith((b"+PONG", b"-NOAUTH")):
        return f"Redis at {host}:{port} answered PING with {reply!r}"
    return None


def require_service(reason: str | None) -> None:
    """Skip locally, fail under CI=true: CI must never go green by skipping what it tests."""
    if reason is None:
        return
    if in_ci():
        pytest.fail(f"{reason} (CI=true: a missing service is a failure, not a skip)")
    pytest.skip(reason)


def _database_unavailable() -> str | None:
    url = test_database_url()
    return postgres_unavailable(url) if is_postgres_url(url) else None


# --- hooks ----------------------------------------------------------------------------


def pytest_sessionstart(session: pytest.Session) -> None:
    reason = _database_unavailable()
    if reason is not None and in_ci():
        pytest.exit(
            f"{reason}\nCI=true: the configured test database must be reachable.",
            returncode=pytest.ExitCode.TESTS_FAILED,
        )
    if reason is None and xdist_worker_index() is not None:
        _use_a_postgres_database_of_this_workers_own()


def pytest_sessionfinish(session: pytest.Session) -> None:
    from tests.databases import drop_postgres_database, drop_templates

    own = os.environ.get("MILESTONES_TEST_WORKER_DATABASE")
    if own is not None:
        drop_postgres_database(test_database_url(), own)
    drop_templates()


def _use_a_postgres_database_of_this_workers_own() -> None:
    """Under xdist each worker empties tables between its tests: on PostgreSQL it needs a
    database of its own, `<test database>_gw<N>` (a copy of the migrated template, dropped at
    the end; the Makefile's clean-up drops leftovers too)."""
    url = test_database_url()
    if not is_postgres_url(url):
        return
    from tests.databases import create_postgres_database, drop_postgres_database

    name = f"{urlsplit(url).path.strip('/')}_gw{xdist_worker_index()}"
    drop_postgres_database(url, name)
    own = create_postgres_database(url, name, migrated=True)
    os.environ["MILESTONES_TEST_DATABASE_URL"] = own  # also for the servers tests start
    os.environ["MILESTONES_TEST_WORKER_DATABASE"] = name


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [f"milestones test database: {_redacted(test_database_url())} (CI={in_ci()})"]


# What the PostgreSQL pass (`make test-postgres`) leaves out, marked `same_on_every_database`:
# tests whose subject does not touch the database's behaviour (rendering, parsing, protocol
# framing, limits checked before any query, the page in a browser: those servers always run on
# SQLite), so running them twice would only spend CI's budget. Everything that reads or writes
# through the database runs on both.
SAME_ON_EVERY_DATABASE = (
    "tests/browser/",
    "tests/emails/",
    "tests/perf/test_lean_client.py",
    "tests/api/test_input_hygiene.py",
    "tests/api/test_schema_descriptions.py",
    "tests/api/test_validation.py",
    "tests/security/test_exposure.py",
    "tests/security/test_fuzz.py",
    "tests/security/test_http_conformance.py",
    "tests/security/test_limits.py",
    "tests/security/test_production_mode.py",
    "tests/subscriptions/test_connection_init_token.py",
    "tests/subscriptions/test_graphql_sse_client.py",
    "tests/subscriptions/test_graphql_ws_client.py",
    "tests/subscriptions/test_trusted_documents.py",
    "tests/test_architecture.py",
    "tests/test_auth.py",
    "tests/test_graphiql_assets.py",
    "tests/test_room_page.py",
    "tests/test_schema_file.py",
)
# The longest tests start first, so that under xdist no worker is left with one at the end.
LONGEST_FIRST = ("tests/test_workflow_stateful.py", "tests/security/test_deadlines_catch_up.py")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = Path(str(config.rootpath))
    rank = {path: index for index, path in enumerate(LONGEST_FIRST)}
    order: dict[str, int] = {}
    for item in items:
        path = Path(str(item.path)).relative_to(root).as_posix()
        if path.startswith(SAME_ON_EVERY_DATABASE):
            item.add_marker(pytest.mark.same_on_every_database)
        order[item.nodeid] = rank.get(path, len(rank))
    items.sort(key=lambda item: order[item.nodeid])  # stable: the rest keep their order


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("postgres") is not None:
        require_service(postgres_unavailable(test_postgres_url()))
    if item.get_closest_marker("redis") is not None:
        require_service(redis_unavailable(test_redis_url()))


# --- the client side --------------------------------------------------------------------


class Actor:
    """One person talking to the API: every request carries their token (or none)."""

    def __init__(self, http: httpx.AsyncClient, sub: str | None, token: str | None) -> None:
        self.http = http
        self.sub = sub
        self.token = token
        self._user_id: str | None = None

    def __repr__(self) -> str:
        return f"Actor(sub={self.sub!r})" if self.sub is not None else "Actor(anonymous)"

    async def post(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """POST one GraphQL operation; returns the whole response body (data and errors)."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        body: dict[str, Any] = {"query": query}
        if variables is not None:
            body["variables"] = variables
        response = await self.http.post("/graphql", json=body, headers=headers)
        try:
            result = response.json()
        except ValueError:
            raise AssertionError(
                f"{self!r}: /graphql answered HTTP {response.status_code} with a body that is"
                f" not JSON:\n{response.text[:2000]}"
            ) from None
        if not isinstance(result, dict):
            raise AssertionError(f"{self!r}: /graphql answered a non-object: {result!r}")
        return result

    async def gql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """POST one GraphQL operation, insist it had no errors, return its ``data``."""
        result = await self.post(query, variables)
        if result.get("errors"):
            raise AssertionError(
                f"{self!r}: GraphQL errors:\n{json.dumps(result['errors'], indent=2)}\n"
                f"operation:\n{query.strip()}\n"
                f"variables: {json.dumps(variables, indent=2, default=str)}"
            )
        data = result.get("data")
        assert isinstance(data, dict), f"{self!r}: no data in response: {result!r}"
        return data

    async def user_id(self) -> str:
        """This actor's ``User.id`` (the first call also creates the user from the token)."""
        if self._user_id is None:
            data = await self.gql("query { me { id } }")
            self._user_id = str(data["me"]["id"])
        return self._user_id


class ApiClient:
    """Hands out actors that share one HTTP client on the app under test."""

    def __init__(self, http: httpx.AsyncClient, settings: Settings) -> None:
        self.http = http
        self.settings = settings

    def actor(
        self,
        sub: str,
        name: str | None = None,
        email: str | None = None,
        roles: tuple[str, ...] = (),
    ) -> Actor:
        token = issue_token(self.settings.jwt_secret, sub, name=name, email=email, roles=roles)
        return Actor(self.http, sub, token)

    @property
    def anonymous(self) -> Actor:
        return Actor(self.http, None, None)


def _with_lifespan_state(app: Starlette, state: dict[str, Any] | None) -> ASGIApp:
    """What a server does per request: hand each one a copy of the lifespan state."""
    if not state:
        return app

    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        scope = {**scope, "state": dict(state)}
        await app(scope, receive, send)

    return asgi


# --- fixtures ---------------------------------------------------------------------------


def migrated_database_url(folder: Path) -> str:
    """The suite's database for one test's app: on PostgreSQL the shared test database (the
    app fixture empties its tables), on SQLite a copy of the migrated template in `folder`."""
    url = test_database_url()
    if not is_memory_database(url):
        return url
    from tests.databases import migrated_sqlite_url

    return migrated_sqlite_url(folder / "milestones.sqlite3", options="?synchronous=OFF")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        database_url=migrated_database_url(tmp_path),
        broadcast_url="memory://",
        jwt_secret=TEST_JWT_SECRET,
        smtp_url=None,
        milestones_env="development",
    )


@pytest.fixture
async def _app_and_state(settings: Settings) -> AsyncIterator[tuple[Starlette, Any]]:
    require_service(_database_unavailable())
    from milestones.app import create_app

    application = create_app(settings)
    try:
        async with application.router.lifespan_context(application) as state:
            if is_postgres_url(settings.database_url):  # SQLite: each test has its own copy
                from milestones.database import reset_tables

                await reset_tables()
            yield application, state
    except BaseException:
        await _close_leftover_orm()
        raise
    if await _close_leftover_orm():
        pytest.fail("the app's lifespan ended but left Tortoise ORM initialised")


async def _close_leftover_orm() -> bool:
    """Close an ORM context a lifespan left behind (say, one that failed half-way).

    Tortoise keeps one process-wide context; left open, it would fail every later test with
    "Global context fallback is already enabled" and keep the process from exiting.
    """
    from tortoise.context import get_current_context

    leftover = get_current_context()
    if leftover is None:
        return False
    await leftover.close_connections()
    return True


@pytest.fixture
def app(_app_and_state: tuple[Starlette, Any]) -> Starlette:
    return _app_and_state[0]


@pytest.fixture
async def api(
    _app_and_state: tuple[Starlette, Any], settings: Settings
) -> AsyncIterator[ApiClient]:
    application, state = _app_and_state
    transport = httpx.ASGITransport(app=_with_lifespan_state(application, state))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield ApiClient(http, settings)


@pytest.fixture
def client(api: ApiClient) -> Actor:
    return api.actor("client", name="Cleo Client", email="cleo@example.com")


@pytest.fixture
def freelancer(api: ApiClient) -> Actor:
    return api.actor("freelancer", name="Fred Freelancer", email="fred@example.com")


@pytest.fixture
def outsider(api: ApiClient) -> Actor:
    return api.actor("outsider")


@pytest.fixture
def mediator(api: ApiClient) -> Actor:
    """A user whose token's `roles` claim holds "mediator"."""
    return api.actor("mediator-mia", name="Mia Mediator", roles=("mediator",))


@pytest.fixture
def anonymous(api: ApiClient) -> Actor:
    return api.anonymous


@pytest.fixture
def postgres_url() -> str:
    url = test_postgres_url()
    require_service(postgres_unavailable(url))
    return url


@pytest.fixture
def redis_url() -> str:
    url = test_redis_url()
    require_service(redis_unavailable(url))
    return url
