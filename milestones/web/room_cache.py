"""Contract rooms at the database's pace: a `contract(id:)` query is executed once per room
version, and served from memory while the room has not changed.

Everything a contract room shows changes only in an action that appends to its event log (the
contract's `event_seq`), in its parties' profiles (their `updated_at`), or in its teams' members
(the team's and the members' `updated_at`); who may see it, and as what, is the viewer's own
standing, read by the same statement and judged by the one rule (`access_in`). So the response of a
query whose only root field is `contract(id:)` depends on (viewer, document, variables,
operation, Accept) and on that version, which one indexed read returns. The version is read
*before* executing, so a mutation that commits meanwhile makes the stored entry older than the
room: the next request misses and executes again. A room is never served stale, on any
instance, because every request checks the version in the database.

It sits in front of the GraphQL app as ASGI middleware: a hit never reaches GraphQL execution.
Nothing is parsed or kept for a request whose token does not verify, and both the responses and
the plans are bounded by bytes.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

import orjson
from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    OperationDefinitionNode,
    OperationType,
    StringValueNode,
    VariableNode,
)
from tortoise import connections

from milestones import ids
from milestones.auth import TokenVerifier, Unauthenticated, parse_authorization
from milestones.caches import ByteBoundedLRU
from milestones.domain.access import Access, access_in
from milestones.observability.metrics import ROOM_VERSION_PAIRS, ROOM_VERSION_READS
from milestones.rate_limits import Budget, RateLimiter, Refusal, identity
from milestones.schema.documents import PARSED_SCOPE_KEY, Documents
from milestones.web.graphql_http import wants_event_stream
from milestones.web.trusted_documents import DocumentRefused, TrustedDocuments
from milestones.web.uploads import is_multipart

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

Version = tuple[Any, ...]
QUERY_CHARGE = ((Budget.QUERIES, 1),)


@dataclass(frozen=True, slots=True)
class RoomPlan:
    """Where a cacheable document takes its contract id from."""

    literal: str | None = None
    variable: str | None = None

    def contract_id(self, variables: object) -> object:
        if self.literal is not None:
            return self.literal
        return variables.get(self.variable) if isinstance(variables, dict) else None


@dataclass(frozen=True, slots=True)
class Entry:
    version: Version
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


def plan_for(document: DocumentNode, operation_name: str | None) -> RoomPlan | None:
    """A plan when the operation's only root field is `contract(id:)`, else None."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [op for op in operations if op.name and op.name.value == operation_name]
    if len(operations) != 1 or operations[0].operation is not OperationType.QUERY:
        return None
    selections = operations[0].selection_set.selections
    if len(selections) != 1 or not isinstance(selections[0], FieldNode):
        return None
    field = selections[0]
    arguments = field.arguments or ()
    if field.name.value != "contract" or field.directives or len(arguments) != 1:
        return None
    value = arguments[0].value
    if isinstance(value, StringValueNode):
        return RoomPlan(literal=value.value)
    if isinstance(value, VariableNode):
        return RoomPlan(variable=value.name.value)
    return None


class RoomCache:
    def __init__(
        self,
        app: ASGIApp,
        *,
        verifier: TokenVerifier,
        documents: Documents,
        max_bytes: int = 64 * 1024 * 1024,
        max_body: int = 100 * 1024,
        path: str = "/graphql",
        rate_limiter: RateLimiter | None = None,
        trusted_documents: TrustedDocuments | None = None,
    ) -> None:
        self.app = app
        self.verifier = verifier
        self.documents = documents
        # A hit never reaches GraphQL (where misses are metered), so hits are metered here.
        self.rate_limiter = (
            rate_limiter if rate_limiter is not None and rate_limiter.enabled else None
        )
        # A request may name its document by id (trusted documents): the room is the same.
        self.trusted_documents = trusted_documents or TrustedDocuments({}, only=False)
        self.max_body = max_body
        self.path = path
        self._entries: ByteBoundedLRU[bytes, Entry] = ByteBoundedLRU(max_bytes)
        # Plans are small; the documents they come from are in `documents` (bounded there).
        self._plans: ByteBoundedLRU[tuple[str, str | None], RoomPlan | None] = ByteBoundedLRU(
            max(max_bytes // 16, 1)
        )
        self.versions = VersionReads()
        self.hits = 0
        self.misses = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or scope["path"] != self.path
            # Event streams authenticate before their body is read, let alone parsed.
            or wants_event_stream(scope)
            # So do uploads (web/uploads.py); they are never a room query anyway.
            or is_multipart(dict(scope["headers"]).get(b"content-type"))
        ):
            await self.app(scope, receive, send)
            return
        body, complete = await _read_body(receive, self.max_body)
        replay = _replaying(body, complete, receive)
        lookup = await self._lookup(scope, body) if complete else None
        if lookup is None:
            await self.app(scope, replay, send)
            return
        key, version, sub, entry = lookup
        if entry is not None and entry.version == version:
            if self.rate_limiter is not None:
                refusal = await self.rate_limiter.admit(identity(sub, None), QUERY_CHARGE)
                if refusal is not None:
                    await _refuse(send, refusal)
                    return
            self.hits += 1
            await send(
                {"type": "http.response.start", "status": entry.status, "headers": entry.headers}
            )
            await send({"type": "http.response.body", "body": entry.body})
            return
        self.misses += 1
        await self._execute_and_keep(scope, replay, send, key, version)

    async def _lookup(
        self, scope: Scope, body: bytes
    ) -> tuple[bytes, Version, str, Entry | None] | None:
        headers = dict(scope["headers"])
        if not headers.get(b"content-type", b"").startswith(b"application/json"):
            return None
        try:
            request = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(request, dict):
            return None
        query = request.get("query")
        if not isinstance(query, str | None):
            return None
        try:
            # A document that is not trusted (TRUSTED_DOCUMENTS_ONLY) is refused by the
            # endpoint, never parsed here.
            query = self.trusted_documents.resolve(
                query, request.get("documentId"), request.get("extensions")
            )
        except DocumentRefused:
            return None
        if query is None:
            return None
        operation_name = request.get("operationName")
        if operation_name is not None and not isinstance(operation_name, str):
            return None
        # Who asks comes first: nothing is parsed or kept for a caller without a valid token.
        authorization = headers.get(b"authorization", b"").decode("latin-1")
        try:
            claims = self.verifier.verify(parse_authorization(authorization)).claims
        except Unauthenticated:
            return None
        plan = self._plan(scope, query, operation_name)
        if plan is None:
            return None
        contract_pk = ids.decode(plan.contract_id(request.get("variables")), "Contract")
        if contract_pk is None:
            return None
        key = hashlib.blake2b(
            orjson.dumps(
                [
                    claims.sub,
                    claims.name,
                    claims.email,
                    query,
                    request.get("variables"),
                    operation_name,
                    headers.get(b"accept", b"").decode("latin-1"),
                ],
                option=orjson.OPT_SORT_KEYS,
            ),
            digest_size=20,
        ).digest()
        entry = self._entries.get(key)
        # A room kept for this request is between two people or has a team side, for good:
        # a contract's sides are fixed when it is made. Between two people, the version is
        # read without the team subqueries (a third of the statement's work, found or not).
        people = entry is not None and _between_people(entry.version)
        version = await self.versions.read(contract_pk, claims.sub, people=people)
        if people and version is not None and not _between_people(version):
            version = await self.versions.read(contract_pk, claims.sub)  # never, but never wrong
        # Outsiders (and unknown rooms) go the ordinary way: they get null, uncached.
        if version is None or viewer_access(version) is None:
            return None
        return key, version, claims.sub, entry

    def _plan(self, scope: Scope, query: str, operation_name: str | None) -> RoomPlan | None:
        cache_key = (query, operation_name)
        if cache_key in self._plans:
            return self._plans.get(cache_key)
        try:
            document = self.documents.parse(query, cache=True)
        except GraphQLError as refused:  # GraphQL answers it (without parsing it again)
            scope[PARSED_SCOPE_KEY] = (query, refused)
            return None
        plan = plan_for(document, operation_name)
        self._plans.put(cache_key, plan, len(query) + len(operation_name or ""))
        return plan

    async def _execute_and_keep(
        self, scope: Scope, receive: Receive, send: Send, key: bytes, version: Version
    ) -> None:
        start: Message = {}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    self._keep(key, version, start, b"".join(chunks))
            await send(message)

        await self.app(scope, receive, capture)

    def _keep(self, key: bytes, version: Version, start: Message, body: bytes) -> None:
        if start.get("status") != 200 or b'"errors"' in body:
            return
        headers = [
            (name, value)
            for name, value in start.get("headers", [])
            if name.lower() not in (b"x-request-id", b"set-cookie", b"date")
        ]
        size = len(body) + sum(len(name) + len(value) for name, value in headers)
        self._entries.put(key, Entry(version, 200, headers, body), size)


# The room's version as one viewer sees it: the log, the parties' profiles, the teams' members
# and their profiles, and the viewer's own standing (their id and roles in the two teams).
_VERSION_COLUMNS = (
    "c.event_seq, c.client_id, c.freelancer_id, c.client_team_id, c.freelancer_team_id, "
    "v.id, {roles}, uc.updated_at, uf.updated_at, {teams}"
)
_PARTIES = "LEFT JOIN users uc ON uc.id = c.client_id LEFT JOIN users uf ON uf.id = c.freelancer_id"
_VERSION_SQL = (
    f"SELECT {_VERSION_COLUMNS} FROM contracts c {_PARTIES} "
    "LEFT JOIN users v ON v.sub = {viewer} WHERE c.id = {contract}"
)
# Many (room, viewer) pairs in one statement (PostgreSQL): a row per pair whose room exists,
# numbered by the pair's place in the arrays.
_VERSIONS_SQL = (
    f"SELECT q.i, {_VERSION_COLUMNS} "
    "FROM unnest($1::int8[], $2::text[]) WITH ORDINALITY AS q(contract, sub, i) "
    f"JOIN contracts c ON c.id = q.contract {_PARTIES} LEFT JOIN users v ON v.sub = q.sub"
)
_TEAM_PARTS = {
    "roles": (
        "(SELECT m.role FROM team_members m WHERE m.team_id = c.client_team_id "
        "AND m.user_id = v.id), "
        "(SELECT m.role FROM team_members m WHERE m.team_id = c.freelancer_team_id "
        "AND m.user_id = v.id)"
    ),
    "teams": (
        "(SELECT MAX(t.updated_at) FROM teams t "
        "WHERE t.id IN (c.client_team_id, c.freelancer_team_id)), "
        "(SELECT MAX(u.updated_at) FROM team_members m JOIN users u ON u.id = m.user_id "
        "WHERE m.team_id IN (c.client_team_id, c.freelancer_team_id))"
    ),
}
# Between two people the team parts are NULL, as the subqueries find them: the same version.
_PEOPLE_PARTS = {"roles": "NULL, NULL", "teams": "NULL, NULL"}
_POSTGRES = {"contract": "$1", "viewer": "$2"}
_SQLITE = {"contract": "?1", "viewer": "?2"}
_VERSION_STATEMENTS = {
    (postgres, people): _VERSION_SQL.format(
        **(_POSTGRES if postgres else _SQLITE), **(_PEOPLE_PARTS if people else _TEAM_PARTS)
    )
    for postgres in (True, False)
    for people in (True, False)
}
_VERSIONS_STATEMENTS = {
    people: _VERSIONS_SQL.format(**(_PEOPLE_PARTS if people else _TEAM_PARTS))
    for people in (True, False)
}


def _between_people(version: Version) -> bool:
    """A version of a room with no team side (`client_team_id`, `freelancer_team_id`)."""
    return version[3] is None and version[4] is None


@dataclass(frozen=True, slots=True)
class _Parties:
    client_id: int
    freelancer_id: int
    client_team_id: int | None
    freelancer_team_id: int | None


def viewer_access(version: Version) -> Access | None:
    """The viewer's access to the room, by the one rule (`access_in`), from its version."""
    (_, client, freelancer, client_team, freelancer_team, viewer, in_client, in_freelancer) = (
        version[:8]
    )
    if viewer is None:
        return None
    memberships = {
        team: role
        for team, role in ((client_team, in_client), (freelancer_team, in_freelancer))
        if team is not None and role is not None
    }
    parties = _Parties(client, freelancer, client_team, freelancer_team)
    return access_in(viewer, parties, memberships)


async def room_version(contract_pk: int, sub: str, *, people: bool = False) -> Version | None:
    """What the room's response depends on, for the viewer with this token `sub`. `people`:
    the room is known to have no team side (its version is read without the team parts)."""
    connection = connections.get("default")
    if connection.capabilities.dialect == "postgres":
        async with connection.acquire_connection() as raw:
            return (await room_versions([(contract_pk, sub)], people=people, raw=raw))[0]
    _, rows = await connection.execute_query(_VERSION_STATEMENTS[False, people], [contract_pk, sub])
    return tuple(rows[0]) if rows else None


async def room_versions(
    pairs: list[Pair], *, raw: Any, people: bool = False
) -> list[Version | None]:
    """`room_version` of many (room, viewer) pairs in one PostgreSQL statement, in order; on
    the asyncpg connection `raw` (one of the pool's, already checked out). One pair is the
    single prepared statement."""
    if len(pairs) == 1:
        record = await raw.fetchrow(_VERSION_STATEMENTS[True, people], *pairs[0])
        return [tuple(record) if record is not None else None]
    records = await raw.fetch(
        _VERSIONS_STATEMENTS[people],
        [contract_pk for contract_pk, _ in pairs],
        [sub for _, sub in pairs],
    )
    versions: list[Version | None] = [None] * len(pairs)
    for record in records:
        versions[record[0] - 1] = tuple(record)[1:]
    return versions


Pair = tuple[int, str]
_Batch = dict[Pair, "asyncio.Future[Version | None]"]


class VersionReads:
    """Room versions read together: a request joins the next read, never one in flight.

    A version must be read after the request arrived (a change committed before it must
    show). While a read is in flight, the pairs asked for meanwhile wait for the next one,
    which starts the moment it returns and reads all of them in one statement, a pair asked
    for twice once. Idle, a read starts at once and is the single statement it always was;
    under load the concurrent requests share one round trip, and back-to-back reads one pool
    checkout (given back when nobody waits, and at least every `hold_seconds`). At most one
    read per kind (`people` or not) is in flight; a batch holds at most `max_pairs` pairs,
    the rest wait for the next. PostgreSQL only: SQLite's one connection serialises the reads
    anyway (`room_version` there, one by one).
    """

    def __init__(self, *, max_pairs: int = 256, hold_seconds: float = 1.0) -> None:
        self.max_pairs = max_pairs
        self.hold_seconds = hold_seconds
        self._waiting: dict[bool, _Batch] = {False: {}, True: {}}
        self._reading: dict[bool, asyncio.Task[None] | None] = {False: None, True: None}

    async def read(self, contract_pk: int, sub: str, *, people: bool = False) -> Version | None:
        if connections.get("default").capabilities.dialect != "postgres":
            return await room_version(contract_pk, sub, people=people)
        waiting = self._waiting[people]
        future = waiting.get((contract_pk, sub))
        if future is None:
            future = waiting[contract_pk, sub] = asyncio.get_running_loop().create_future()
        if self._reading[people] is None:
            self._reading[people] = asyncio.create_task(self._read_while_asked(people))
        # A caller that gives up (cancelled) leaves the read to the others.
        return await asyncio.shield(future)

    async def _read_while_asked(self, people: bool) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._waiting[people]:
                batch = self._take(people)
                try:
                    async with connections.get("default").acquire_connection() as raw:
                        until = loop.time() + self.hold_seconds
                        while True:
                            pairs = list(batch)
                            ROOM_VERSION_READS.inc()
                            ROOM_VERSION_PAIRS.inc(len(pairs))
                            versions = await room_versions(pairs, people=people, raw=raw)
                            for future, version in zip(batch.values(), versions, strict=True):
                                if not future.done():
                                    future.set_result(version)
                            batch = {}
                            # Two passes of the loop before the next read: requests whose
                            # bytes came in with this answer reach their wait and join it.
                            await asyncio.sleep(0)
                            await asyncio.sleep(0)
                            if not self._waiting[people] or loop.time() > until:
                                break
                            batch = self._take(people)
                except BaseException as failed:  # its waiters see the read's own failure
                    for future in batch.values():
                        if not future.done():
                            if isinstance(failed, asyncio.CancelledError):
                                future.cancel()
                            else:
                                future.set_exception(failed)
                    if not isinstance(failed, Exception):  # cancelled: so is whoever waits
                        for future in self._waiting[people].values():
                            future.cancel()
                        self._waiting[people] = {}
                        raise
        finally:
            self._reading[people] = None

    def _take(self, people: bool) -> _Batch:
        waiting = self._waiting[people]
        if len(waiting) <= self.max_pairs:
            self._waiting[people] = {}
            return waiting
        batch: _Batch = {}
        for pair in list(waiting)[: self.max_pairs]:
            batch[pair] = waiting.pop(pair)
        return batch


async def _refuse(send: Send, refusal: Refusal) -> None:
    """The 429 the GraphQL endpoint would answer for a refused query."""
    body = orjson.dumps(
        {"errors": [{"message": refusal.message, "extensions": refusal.extensions}]}
    )
    headers = [
        (b"content-type", b"application/json"),
        (b"cache-control", b"no-store"),
        (b"retry-after", str(refusal.retry_after).encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": 429, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _read_body(receive: Receive, limit: int) -> tuple[bytes, bool]:
    """The request body, and whether it was read whole (False past `limit`)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), True
        if size > limit:
            return b"".join(chunks), False


def _replaying(body: bytes, complete: bool, receive: Receive) -> Receive:
    """A `receive` that hands the app the body already read, then continues the stream."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": not complete}
        return await receive()

    return replay
