"""Talking to the project through its public API: over HTTP, or in-process through ASGI."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from milestones.auth import issue_token

ROOM_QUERY = (Path(__file__).parent / "room_query.graphql").read_text()
JWT_SECRET = "milestones-bench-secret-0123456789abcdef-not-for-production"
TOKEN_SECONDS = 6 * 3600

ME = "query Me { me { id } }"
CREATE_CONTRACT = """
mutation CreateContract($input: CreateContractInput!) {
  createContract(input: $input) { contract { id } userErrors { code message field } }
}"""
ACCEPT_CONTRACT = """
mutation AcceptContract($input: AcceptContractInput!) {
  acceptContract(input: $input) { contract { id status } userErrors { code message field } }
}"""
ADD_MILESTONE = """
mutation AddMilestone($input: AddMilestoneInput!) {
  addMilestone(input: $input) { milestone { id } userErrors { code message field } }
}"""
EDIT_MILESTONE = """
mutation EditMilestone($input: EditMilestoneInput!) {
  editMilestone(input: $input) { milestone { id version } userErrors { code message field } }
}"""
ACTIVATE_MILESTONE = """
mutation ActivateMilestone($input: ActivateMilestoneInput!) {
  activateMilestone(input: $input) { milestone { id status } userErrors { code message field } }
}"""
APPROVE_MILESTONE = """
mutation ApproveMilestone($input: ApproveMilestoneInput!) {
  approveMilestone(input: $input) { milestone { id status } userErrors { code message field } }
}"""
REQUEST_CHANGES = """
mutation RequestChanges($input: RequestMilestoneChangesInput!) {
  requestMilestoneChanges(input: $input) {
    changeRequest { id }
    userErrors { code message field }
  }
}"""


class ApiError(RuntimeError):
    pass


@dataclass(frozen=True)
class Party:
    sub: str
    name: str
    token: str

    @property
    def authorization(self) -> str:
        return f"Bearer {self.token}"


def party(sub: str, name: str) -> Party:
    return Party(sub, name, issue_token(JWT_SECRET, sub, name=name, expires_in=TOKEN_SECONDS))


CLIENT = party("bench-client", "Cleo Client")
FREELANCER = party("bench-freelancer", "Fred Freelancer")


def request_body(query: str, variables: dict[str, Any] | None = None) -> bytes:
    body: dict[str, Any] = {"query": query}
    if variables is not None:
        body["variables"] = variables
    return json.dumps(body).encode()


class GraphQLApi:
    """The project's GraphQL endpoint, however it is reached: `post` a document, or `ok` a
    mutation that must succeed."""

    async def post(
        self, who: Party, query: str, variables: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        raise NotImplementedError

    async def ok(
        self, who: Party, field: str, query: str, variables: dict[str, Any]
    ) -> dict[str, Any]:
        """Run a mutation that must succeed; its payload."""
        payload: dict[str, Any] = (await self.post(who, query, variables))["data"][field]
        if payload.get("userErrors"):
            raise ApiError(f"{field} refused: {payload['userErrors']}")
        return payload


class GraphQLClient(GraphQLApi):
    """Over httpx: a real HTTP client, or the app in-process through ASGI (`in_process`)."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def post(
        self, who: Party, query: str, variables: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        response = await self.http.post(
            "/graphql",
            content=request_body(query, variables),
            headers={"Authorization": who.authorization, "Content-Type": "application/json"},
        )
        return _result(response.status_code, response.content)


def _result(status: int, body: bytes) -> dict[str, Any]:
    """A GraphQL response that must have data and no errors."""
    if status != 200:
        raise ApiError(f"HTTP {status}: {body[:500].decode(errors='replace')}")
    result: dict[str, Any] = json.loads(body)
    if result.get("errors"):
        raise ApiError(f"GraphQL errors: {json.dumps(result['errors'])[:1000]}")
    return result


# uvicorn closes a keep-alive connection idle for 5 s (its default); a lean client reconnects
# before reusing one idle for this long.
_IDLE_RECONNECT_SECONDS = 3.0


class LeanClient(GraphQLApi):
    """The same requests over one HTTP/1.1 keep-alive connection of plain asyncio streams: a
    load generator that leaves the CPU to the server. httpx spends about 0.8 ms of CPU per
    request with 32 clients cycling at once (0.4 of the two cores the server, PostgreSQL and
    the generator share); this spends a fraction of it. Responses are read whole (status,
    Content-Length body) and checked as `GraphQLClient` checks them."""

    def __init__(self, url: str) -> None:
        parts = httpx.URL(url)
        self.host, self.port = parts.host, parts.port or 80
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._used = 0.0

    async def _connection(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        now = time.monotonic()
        stale = now - self._used > _IDLE_RECONNECT_SECONDS
        if self._reader is None or self._writer is None or self._reader.at_eof() or stale:
            await self.aclose()
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        self._used = now
        return self._reader, self._writer

    async def post(
        self, who: Party, query: str, variables: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        reader, writer = await self._connection()
        body = request_body(query, variables)
        writer.write(
            (
                f"POST /graphql HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                f"Authorization: {who.authorization}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode()
            + body
        )
        status_line = await reader.readline()
        if not status_line:
            raise ApiError("the server closed the connection")
        length = None
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length is None:
            raise ApiError(f"no Content-Length in the response to {query[:60]!r}")
        content = await reader.readexactly(length)
        self._used = time.monotonic()
        return _result(int(status_line.split()[1]), content)

    async def aclose(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
        self._reader = self._writer = None


@contextlib.asynccontextmanager
async def lean_over_http(url: str) -> AsyncIterator[LeanClient]:
    client = LeanClient(url)
    try:
        yield client
    finally:
        await client.aclose()


@contextlib.asynccontextmanager
async def in_process(database_url: str) -> AsyncIterator[GraphQLClient]:
    """The project's app in this process (lifespan running), driven through ASGI."""
    from starlette.types import Receive, Scope, Send

    from milestones.app import create_app
    from milestones.config import Settings

    settings = Settings(
        database_url=database_url,
        broadcast_url="memory://",
        jwt_secret=JWT_SECRET,
        smtp_url=None,
        milestones_env="production",
        # Seeding is one user adding hundreds of milestones at once.
        rate_limit_queries=None,
        rate_limit_mutations=None,
        rate_limit_notifying=None,
        rate_limit_subscriptions=None,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app) as state:

        async def with_state(scope: Scope, receive: Receive, send: Send) -> None:
            await app({**scope, "state": dict(state or {})}, receive, send)

        transport = httpx.ASGITransport(app=with_state)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
            yield GraphQLClient(http)
