"""The fault-injection harness: real `milestones serve` processes in production mode, a client
that retries the way a real one does (same idempotency key, next live instance) and counts what
it saw, a TCP proxy that can cut or freeze a connection, server memory from `/proc`, and the
audits that say whether money or messages were lost or doubled.

Everything talks to 127.0.0.1 only; every wait and every loop is bounded.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
import secrets
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import asyncpg
import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.typing import Subprotocol

from milestones.auth import issue_token
from milestones.live.brokers import asyncpg_dsn
from tests.conftest import TEST_JWT_SECRET
from tests.subscriptions.servers import Process, free_port, spawn

JSON = dict[str, Any]

START_SECONDS: Final = 45.0
REQUEST_SECONDS: Final = 15.0
# What a server failure may say in production: this and nothing of the cause.
MASKED_MESSAGE: Final = "Unexpected error."
# Driver, ORM, broker and Python internals that must never reach a client.
LEAK: Final = re.compile(
    r"asyncpg|psycopg|tortoise|aiosqlite|sqlstate|traceback|postgres|redis|"
    r"terminating connection|administrator command|connection (?:was|is) closed|"
    r"connection does not exist|pg_[a-z]|File \"|\.py\b",
    re.IGNORECASE,
)
# Python exception class names ("InterfaceError", "CancelledError"), not "Syntax Error".
EXCEPTION_NAME: Final = re.compile(r"\b[A-Z][A-Za-z]*[a-z](?:Error|Exception)\b")

# Production mode (masked errors), no rate limits where a branch adds them (a burst from one
# user is the point here), JSON logs.
PRODUCTION: Final = {
    "MILESTONES_ENV": "production",
    "JWT_SECRET": TEST_JWT_SECRET,
    "LOG_FORMAT": "json",
    "RATE_LIMIT_QUERIES": "off",
    "RATE_LIMIT_MUTATIONS": "off",
    "RATE_LIMIT_NOTIFYING": "off",
    "RATE_LIMIT_SUBSCRIPTIONS": "off",
}

PAYLOAD: Final = """
  milestone { id status amount fundedAmount releasedAmount version }
  contract {
    id status
    escrow { held available totalFunded totalReleased totalRefunded }
    milestones { id status fundedAmount releasedAmount }
  }
  userErrors { code message field }
"""
ACTIVATE: Final = (
    "mutation Activate($input: ActivateMilestoneInput!) {"
    f" activateMilestone(input: $input) {{ {PAYLOAD} }} }}"
)
APPROVE: Final = (
    "mutation Approve($input: ApproveMilestoneInput!) {"
    f" approveMilestone(input: $input) {{ {PAYLOAD} }} }}"
)
ADD: Final = (
    f"mutation Add($input: AddMilestoneInput!) {{ addMilestone(input: $input) {{ {PAYLOAD} }} }}"
)
EDIT: Final = (
    f"mutation Edit($input: EditMilestoneInput!) {{ editMilestone(input: $input) {{ {PAYLOAD} }} }}"
)
CREATE: Final = """
mutation Create($input: CreateContractInput!) {
  createContract(input: $input) { contract { id } userErrors { code message field } }
}
"""
ACCEPT: Final = """
mutation Accept($input: AcceptContractInput!) {
  acceptContract(input: $input) { contract { id status } userErrors { code message field } }
}
"""
ME: Final = "query Me { me { id } }"
NOTIFICATION_PAGE: Final = """
query Page($after: String) {
  notifications(first: 100, after: $after) {
    edges { node { id } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
NOTIFICATIONS: Final = """
subscription Feed($after: String) { notifications(after: $after) { id cursor kind } }
"""


def token(sub: str, *, email: str | None = None) -> str:
    return issue_token(TEST_JWT_SECRET, sub, name=sub.title(), email=email)


# --------------------------------------------------------------------------- the servers


class Node(Process):
    """One `milestones serve` process on a port of its own."""

    def __init__(self, process: asyncio.subprocess.Process, log: Path, port: int) -> None:
        super().__init__(process, log)
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.ws_url = f"ws://127.0.0.1:{port}/graphql"
        self.http = httpx.AsyncClient(
            base_url=self.url,
            timeout=REQUEST_SECONDS,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
        )
        self.alive = True

    def rss_bytes(self) -> int:
        """Resident memory of the server and its children (uvicorn may fork), from /proc."""
        total = 0
        for pid in [self.pid, *_children(self.pid)]:
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
        return total

    async def wait_ready(self) -> None:
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.process.returncode is not None:
                break
            with contextlib.suppress(httpx.HTTPError):
                if (await self.http.get("/readyz", timeout=2)).status_code == 200:
                    return
            await asyncio.sleep(0.1)
        raise AssertionError(f"server on port {self.port} did not get ready:\n{self.output()}")


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    with contextlib.suppress(OSError):
        return [int(child) for child in path.read_text().split()]
    return []


class Fleet:
    """Servers on one database and one broker, in production mode; all stopped on exit."""

    def __init__(self, database_url: str, broadcast_url: str, logs: Path, **env: str) -> None:
        self.database_url = database_url
        self.env = {
            **PRODUCTION,
            "DATABASE_URL": database_url,
            "BROADCAST_URL": broadcast_url,
            **env,
        }
        self.logs = logs
        self.nodes: list[Node] = []
        logs.mkdir(parents=True, exist_ok=True)

    async def start(self) -> Node:
        port = free_port()
        log = self.logs / f"server-{len(self.nodes)}-{port}.log"
        args = [sys.executable, "-m", "milestones.cli", "serve", "--host", "127.0.0.1"]
        args += ["--port", str(port), "--log-level", "warning"]
        spawned = await spawn(args, self.env, log)
        node = Node(spawned.process, log, port)
        self.nodes.append(node)
        await node.wait_ready()
        return node

    def alive(self) -> list[Node]:
        return [node for node in self.nodes if node.alive]

    async def kill(self, node: Node) -> None:
        """kill -9: no shutdown, no goodbye to clients, transactions cut where they are."""
        node.alive = False
        await node.kill(signal.SIGKILL)

    async def stop(self) -> None:
        for node in self.nodes:
            node.alive = False
            await node.kill(signal.SIGTERM)
            await node.http.aclose()

    def rss_bytes(self) -> int:
        return max((node.rss_bytes() for node in self.alive()), default=0)


@contextlib.asynccontextmanager
async def fleet(
    database_url: str, broadcast_url: str, logs: Path, count: int, **env: str
) -> AsyncIterator[Fleet]:
    running = Fleet(database_url, broadcast_url, logs, **env)
    try:
        for _ in range(count):
            await running.start()
        yield running
    finally:
        await running.stop()


class MemoryWatch:
    """Peak resident memory of a fleet, sampled every 50 ms while it runs."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self.peak = 0
        self._task: asyncio.Task[None] | None = None

    def sample(self) -> int:
        current = self.fleet.rss_bytes()
        self.peak = max(self.peak, current)
        return current

    async def _run(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(0.05)

    async def __aenter__(self) -> MemoryWatch:
        self.sample()
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self.sample()

    @property
    def peak_mb(self) -> float:
        return self.peak / 2**20


# --------------------------------------------------------------------------- the client


class Refused(Exception):
    """A definite answer that is not a success: a 4xx, a request error, a GraphQL error."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body[:500]}")
        self.status = status
        self.body = body


class GaveUp(Exception):
    """No definite answer after every attempt."""


@dataclass
class Tally:
    """What the clients of one scenario saw."""

    requests: int = 0
    server_errors: int = 0  # HTTP 5xx, or a GraphQL INTERNAL_SERVER_ERROR in a 200
    leaks: list[str] = field(default_factory=list)  # error bodies that show internals
    transport_errors: int = 0  # refused, reset, timed out: no answer at all
    # Answers not given the GraphQL-over-HTTP way: not JSON, or without X-Request-ID.
    bare: list[str] = field(default_factory=list)

    def leaked(self, text: str) -> bool:
        return LEAK.search(text) is not None or EXCEPTION_NAME.search(text) is not None


def _errors(body: Any) -> list[JSON]:
    errors = body.get("errors") if isinstance(body, dict) else None
    return [error for error in errors if isinstance(error, dict)] if errors else []


def _is_internal(error: JSON) -> bool:
    """Our failure, as production mode reports one (anything else is the client's)."""
    extensions = error.get("extensions")
    return isinstance(extensions, dict) and extensions.get("code") == "INTERNAL_SERVER_ERROR"


class Caller:
    """Posts GraphQL to the fleet, judging every answer; retries what deserves a retry."""

    def __init__(self, fleet: Fleet, tally: Tally) -> None:
        self.fleet = fleet
        self.tally = tally

    def _judge(self, status: int, text: str, body: Any) -> str:
        """'ok', 'retry' (a server failure) or 'refused'; counts failures and leaks."""
        errors = _errors(body)
        failed = status >= 500 or any(_is_internal(error) for error in errors)
        if failed:
            self.tally.server_errors += 1
        masked_badly = any(
            _is_internal(error) and error.get("message") != MASKED_MESSAGE for error in errors
        )
        if (failed or errors or status >= 400) and (self.tally.leaked(text) or masked_badly):
            self.tally.leaks.append(text[:300])
        if failed:
            return "retry"
        if status >= 400 or errors or not isinstance(body, dict) or "data" not in body:
            return "refused"
        return "ok"

    async def post(self, node: Node, bearer: str | None, query: str, variables: JSON) -> JSON:
        """One request; the data of a success. Refused / ServerFailure / httpx errors."""
        self.tally.requests += 1
        headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
        try:
            response = await node.http.post(
                "/graphql", json={"query": query, "variables": variables}, headers=headers
            )
        except httpx.HTTPError:
            self.tally.transport_errors += 1
            raise
        text = response.text
        try:
            body = response.json()
        except ValueError:
            body = None
        if body is None or "x-request-id" not in response.headers:
            content_type = response.headers.get("content-type", "")
            self.tally.bare.append(f"HTTP {response.status_code} {content_type}: {text[:60]!r}")
        verdict = self._judge(response.status_code, text, body)
        if verdict == "retry":
            raise ServerFailure(response.status_code, text)
        if verdict == "refused":
            raise Refused(response.status_code, text)
        data: JSON = body["data"]
        return data

    async def answered(
        self,
        bearer: str | None,
        query: str,
        variables: JSON,
        *,
        prefer: int = 0,
        attempts: int = 80,
        pause: float = 0.1,
    ) -> JSON:
        """Like a careful client: on no answer or a server failure, the same request again
        (same idempotency key) on the next live instance, up to `attempts` times."""
        for attempt in range(attempts):
            nodes = self.fleet.alive()
            if nodes:
                node = nodes[(prefer + attempt) % len(nodes)]
                try:
                    return await self.post(node, bearer, query, variables)
                except (httpx.HTTPError, ServerFailure):
                    pass
            await asyncio.sleep(pause)
        raise GaveUp(f"no answer after {attempts} attempts: {query[:60]!r}")


class ServerFailure(Exception):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body[:300]}")


# --------------------------------------------------------------------------- workloads


@dataclass
class KeyedCall:
    """A keyed mutation and the first answer it got."""

    bearer: str
    document: str
    field: str
    variables: JSON
    first: JSON | None = None


@dataclass
class Contract:
    id: str
    client: str  # bearer tokens
    freelancer: str
    milestone_ids: list[str]


async def contracts(
    caller: Caller,
    count: int,
    tag: str,
    amounts: list[str],
    *,
    email: bool = False,
    description: str | None = None,
) -> list[Contract]:
    """`count` contracts, each between its own client and freelancer, with one milestone per
    amount (made with retries: the faults may already be running)."""

    async def one(index: int) -> Contract:
        client = token(
            f"client-{tag}-{index}", email=f"c{index}.{tag}@example.com" if email else None
        )
        freelancer = token(
            f"freelancer-{tag}-{index}", email=f"f{index}.{tag}@example.com" if email else None
        )
        freelancer_id = (await caller.answered(freelancer, ME, {}))["me"]["id"]
        created = await caller.answered(
            client,
            CREATE,
            {"input": {"title": f"Chaos {tag} {index}", "freelancerId": freelancer_id}},
        )
        assert created["createContract"]["userErrors"] == [], created
        contract_id = created["createContract"]["contract"]["id"]
        # An offer until the freelancer accepts it (keyed: a retried answer acts once).
        accepted = await caller.answered(
            freelancer,
            ACCEPT,
            {"input": {"contractId": contract_id, "idempotencyKey": f"accept-{tag}-{index}"}},
        )
        assert accepted["acceptContract"]["userErrors"] == [], accepted
        ids = []
        for number, amount in enumerate(amounts):
            extra = {"description": description} if description else {}
            added = await caller.answered(
                client,
                ADD,
                {
                    "input": {
                        "contractId": contract_id,
                        "title": f"M{number}",
                        "amount": amount,
                        **extra,
                    }
                },
            )
            assert added["addMilestone"]["userErrors"] == [], added
            ids.append(added["addMilestone"]["milestone"]["id"])
        return Contract(contract_id, client, freelancer, ids)

    return list(await asyncio.gather(*(one(index) for index in range(count))))


@dataclass
class Chains:
    """Sequences of keyed calls, one sequence per contract, run side by side."""

    caller: Caller
    calls: list[KeyedCall] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    done: int = 0

    async def run(self, steps: Iterable[KeyedCall], *, prefer: int = 0) -> None:
        """Each call until it has an answer; a refusal (4xx, userErrors) ends the sequence."""
        for call in steps:
            self.calls.append(call)
            try:
                data = await self.caller.answered(
                    call.bearer, call.document, call.variables, prefer=prefer
                )
            except (Refused, GaveUp) as error:
                self.refusals.append(f"{call.field}: {_reason(error)}")
                return
            call.first = data
            self.done += 1
            user_errors = data[call.field]["userErrors"]
            if user_errors:
                self.refusals.append(f"{call.field}: {user_errors}"[:300])
                return

    async def replay_all(self) -> list[str]:
        """Every answered call once more, spread over the live instances: each must answer
        exactly as it first did. The differences."""
        differences = []
        answered = [call for call in self.calls if call.first is not None]
        for index, call in enumerate(answered):
            again = await self.caller.answered(
                call.bearer, call.document, call.variables, prefer=index
            )
            if again != call.first:
                differences.append(
                    f"{call.field} {call.variables}: first {call.first}, again {again}"[:600]
                )
        return differences


def _reason(error: Exception) -> str:
    """A refusal in a few words: its GraphQL error message (without the echoed input)."""
    if isinstance(error, Refused):
        with contextlib.suppress(ValueError):
            errors = _errors(json.loads(error.body))
            if errors:
                return f"HTTP {error.status}: " + str(errors[0].get("message")).split(", found:")[0]
    return str(error)[:200]


def money_moves(contract: Contract, tag: str) -> list[KeyedCall]:
    """Fund then release every milestone of the contract, each move with its own key."""
    calls = []
    for index, milestone_id in enumerate(contract.milestone_ids):
        calls.append(
            KeyedCall(
                contract.client,
                ACTIVATE,
                "activateMilestone",
                {"input": {"milestoneId": milestone_id, "idempotencyKey": f"{tag}-fund-{index}"}},
            )
        )
        calls.append(
            KeyedCall(
                contract.client,
                APPROVE,
                "approveMilestone",
                {
                    "input": {
                        "milestoneId": milestone_id,
                        "endContract": False,
                        "idempotencyKey": f"{tag}-release-{index}",
                    }
                },
            )
        )
    return calls


# --------------------------------------------------------------------------- audits


@dataclass
class Audit:
    lost: int = 0
    doubled: int = 0
    breaches: list[str] = field(default_factory=list)


async def audit_money(database_url: str, contract_ids: list[str]) -> Audit:
    """From the rows: every milestone of these contracts funded once and released once, the
    ledger and the event log agreeing. Lost: a move that is not there; doubled: one too many."""
    from milestones import ids

    pks = [ids.decode("Contract", contract_id) for contract_id in contract_ids]
    rows = await fetch(
        database_url,
        """
        SELECT m.id,
          (SELECT count(*) FROM ledger_entries l
             WHERE l.milestone_id = m.id AND l.kind = 'ALLOCATE') AS funded,
          (SELECT count(*) FROM ledger_entries l
             WHERE l.milestone_id = m.id AND l.kind = 'RELEASE') AS released,
          (SELECT count(*) FROM contract_events e
             WHERE e.milestone_id = m.id AND e.kind = 'MILESTONE_ACTIVATED') AS activated,
          (SELECT count(*) FROM contract_events e
             WHERE e.milestone_id = m.id AND e.kind = 'MILESTONE_APPROVED') AS approved
        FROM milestones m WHERE m.contract_id = ANY($1::int[]) AND m.deleted_at IS NULL
        """,
        pks,
    )
    audit = Audit()
    for row in rows:
        for move, event in (("funded", "activated"), ("released", "approved")):
            count = row[move]
            audit.lost += count == 0
            audit.doubled += max(count - 1, 0)
            if row[event] != count:
                audit.breaches.append(
                    f"milestone {row['id']}: {count} {move} in the ledger,"
                    f" {row[event]} {event} events"
                )
    return audit


async def fetch(database_url: str, query: str, *args: Any) -> list[asyncpg.Record]:
    """Rows straight from the database (the audits read what was written, not the API)."""
    connection = await asyncpg.connect(asyncpg_dsn(database_url), timeout=10)
    try:
        return list(await connection.fetch(query, *args))
    finally:
        await connection.close()


async def check_invariants(database_url: str) -> list[str]:
    """`milestones check-invariants` on the whole database: its complaints (none when fine)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "milestones.cli",
        "check-invariants",
        "--database-url",
        database_url,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 120)
    if process.returncode == 0:
        return []
    return [output.decode(errors="replace")[-2000:]]


NEWEST: Final = "query Newest { notifications(first: 1) { edges { node { cursor } } } }"


async def newest_cursor(caller: Caller, bearer: str) -> str | None:
    """The cursor of the viewer's latest notification: a subscription after it misses none."""
    edges = (await caller.answered(bearer, NEWEST, {}))["notifications"]["edges"]
    return str(edges[0]["node"]["cursor"]) if edges else None


async def notification_ids(caller: Caller, bearer: str) -> set[str]:
    """Every notification of the viewer, from the API (the database is the truth)."""
    found: set[str] = set()
    after: str | None = None
    for _ in range(100):
        page = (await caller.answered(bearer, NOTIFICATION_PAGE, {"after": after}))["notifications"]
        found.update(edge["node"]["id"] for edge in page["edges"])
        if not page["pageInfo"]["hasNextPage"]:
            return found
        after = page["pageInfo"]["endCursor"]
    raise AssertionError("more than 10,000 notifications")


# --------------------------------------------------------------------------- subscribers


class Feed:
    """A subscriber to `notifications` that reads everything it is sent and, when its socket
    is closed, comes back (to the next live instance) with the last cursor it saw."""

    def __init__(self, nodes: Callable[[], list[Node]], bearer: str, reconnects: int = 30):
        self.nodes = nodes
        self.bearer = bearer
        self.reconnects = reconnects
        self.ids: list[str] = []
        self.cursor: str | None = None
        self.closes: list[str] = []
        self.errors: list[str] = []
        self.subscribed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self, after: str | None = None) -> None:
        self.cursor = after
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        for attempt in range(self.reconnects):
            nodes = self.nodes()
            if not nodes:
                await asyncio.sleep(0.2)
                continue
            node = nodes[attempt % len(nodes)]
            try:
                await self._session(node)
            except (OSError, ConnectionClosed, InvalidHandshake, InvalidStatus, TimeoutError) as e:
                self.closes.append(f"{type(e).__name__}: {e}"[:200])
            await asyncio.sleep(0.2)

    async def _session(self, node: Node) -> None:
        async with connect(
            node.ws_url,
            subprotocols=[Subprotocol("graphql-transport-ws")],
            open_timeout=5,
            close_timeout=1,
            max_size=2**22,
        ) as ws:
            await ws.send(
                json.dumps(
                    {
                        "type": "connection_init",
                        "payload": {"authorization": f"Bearer {self.bearer}"},
                    }
                )
            )
            ack = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if ack.get("type") != "connection_ack":
                raise ConnectionClosed(None, None)
            await ws.send(
                json.dumps(
                    {
                        "id": "n",
                        "type": "subscribe",
                        "payload": {"query": NOTIFICATIONS, "variables": {"after": self.cursor}},
                    }
                )
            )
            self.subscribed.set()
            async for raw in ws:
                message = json.loads(raw)
                kind = message.get("type")
                if kind == "ping":
                    await ws.send(json.dumps({"type": "pong"}))
                elif kind == "next":
                    payload = message.get("payload") or {}
                    if payload.get("errors"):
                        self.errors.append(json.dumps(payload["errors"])[:300])
                        continue
                    item = payload["data"]["notifications"]
                    self.ids.append(item["id"])
                    self.cursor = item["cursor"]
                elif kind in {"error", "complete"}:
                    self.errors.append(json.dumps(message)[:300])
                    return

    async def until_seen(self, wanted: set[str], within: float) -> set[str]:
        """Wait (at most `within` seconds) until every id in `wanted` came; what is missing."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            missing = wanted - set(self.ids)
            if not missing:
                return missing
            await asyncio.sleep(0.1)
        return wanted - set(self.ids)

    @property
    def duplicates(self) -> int:
        return len(self.ids) - len(set(self.ids))


async def bounded(awaitable: Awaitable[Any], seconds: float, what: str) -> Any:
    try:
        return await asyncio.wait_for(awaitable, seconds)
    except TimeoutError:
        raise AssertionError(f"{what} did not finish within {seconds:.0f}s") from None


# --------------------------------------------------------------------------- a faulty link


class Link:
    """A TCP proxy on 127.0.0.1 in front of one upstream port, whose wire the test controls:
    `cut()` drops every connection and refuses new ones, `freeze()` keeps them open but moves
    no byte either way (a broker that hangs), `restore()` puts things back."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self.flowing = asyncio.Event()
        self.flowing.set()
        self.refusing = False
        self._server: asyncio.Server | None = None
        self._pairs: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> Link:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        self.cut()
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def cut(self) -> None:
        self.refusing = True
        self.flowing.set()
        for downstream, upstream in list(self._pairs):
            downstream.transport.abort()
            upstream.transport.abort()
        self._pairs.clear()

    def freeze(self) -> None:
        self.flowing.clear()

    def restore(self) -> None:
        self.refusing = False
        self.flowing.set()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.transport.abort()
            return
        pair = (writer, up_writer)
        self._pairs.add(pair)
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pump(source, sink, pair))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pump(
        self,
        source: asyncio.StreamReader,
        sink: asyncio.StreamWriter,
        pair: tuple[asyncio.StreamWriter, asyncio.StreamWriter],
    ) -> None:
        try:
            while True:
                await self.flowing.wait()
                chunk = await source.read(65536)
                if not chunk:
                    break
                await self.flowing.wait()  # a chunk read as the wire froze waits with it
                if pair not in self._pairs:
                    break
                sink.write(chunk)
                await sink.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self._pairs.discard(pair)
            for writer in pair:
                writer.transport.abort()


# --------------------------------------------------------------------------- a stalled socket


class Closed(Exception):
    """The server closed the WebSocket (with this code, None without a close frame)."""

    def __init__(self, code: int | None) -> None:
        super().__init__(f"closed with {code}")
        self.code = code


class StalledSocket:
    """graphql-transport-ws on a bare TCP socket with a small receive buffer, so that when the
    test stops reading, the server sees a client that never reads (no library reads for it)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int, bearer: str) -> StalledSocket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        # A small stream buffer: past 2 x 16 KiB unread the transport stops reading too.
        reader, writer = await asyncio.open_connection(sock=sock, limit=16 * 1024)
        key = base64.b64encode(secrets.token_bytes(16)).decode()
        writer.write(
            (
                "GET /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n"
            ).encode()
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert head.startswith(b"HTTP/1.1 101"), head[:200]
        stalled = cls(reader, writer)
        await stalled.send(
            {"type": "connection_init", "payload": {"authorization": f"Bearer {bearer}"}}
        )
        _, payload = await asyncio.wait_for(stalled.frame(), 10)
        assert json.loads(payload)["type"] == "connection_ack", payload[:200]
        return stalled

    async def send(self, message: JSON) -> bool:
        """Whether it could be written (False: the server has closed the connection)."""
        data = json.dumps(message).encode()
        mask = secrets.token_bytes(4)
        header = bytearray([0x81])
        if len(data) < 126:
            header.append(0x80 | len(data))
        elif len(data) < 65536:
            header += bytes([0x80 | 126]) + struct.pack("!H", len(data))
        else:
            header += bytes([0x80 | 127]) + struct.pack("!Q", len(data))
        masked = bytes(byte ^ mask[index % 4] for index, byte in enumerate(data))
        try:
            self.writer.write(bytes(header) + mask + masked)
            await self.writer.drain()
        except ConnectionError:
            return False
        return True

    async def frame(self) -> tuple[int, bytes]:
        """The next whole message (opcode, payload); pings are answered; Closed at the end."""
        parts: list[bytes] = []
        first_opcode = 0
        try:
            while True:
                head = await self.reader.readexactly(2)
                fin, opcode, length = head[0] & 0x80, head[0] & 0x0F, head[1] & 0x7F
                if length == 126:
                    (length,) = struct.unpack("!H", await self.reader.readexactly(2))
                elif length == 127:
                    (length,) = struct.unpack("!Q", await self.reader.readexactly(8))
                payload = await self.reader.readexactly(length)
                if opcode == 0x8:
                    raise Closed(struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None)
                if opcode == 0x9:  # ping: pong with the same payload (masked, as a client must)
                    mask = secrets.token_bytes(4)
                    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
                    self.writer.write(bytes([0x8A, 0x80 | len(payload)]) + mask + body)
                    continue
                if opcode == 0xA:
                    continue
                first_opcode = first_opcode or opcode
                parts.append(payload)
                if fin:
                    return first_opcode, b"".join(parts)
        except (asyncio.IncompleteReadError, ConnectionError) as error:
            raise Closed(None) from error

    def close(self) -> None:
        self.writer.transport.abort()
