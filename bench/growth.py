"""Latency as data grows: the same requests against a seeded database and an almost empty one.

`python -m bench.growth [--quick]` (also `python -m bench growth`, and part of `make bench`):
two fresh PostgreSQL databases, migrated, then filled by `bench.growth_seed` with COPY, one at
the issue's scale (100,000 contracts, 1,000,000 events and notifications; a user with 100,000
notifications of which a handful unread, a contract with 10,000 events, a user with 5,000
contracts) and one almost empty (the same people with just enough rows for each page, each
page of the same shape: as many contracts and people on it; `growth_seed.EMPTY`). The
contract room of `bench.seed.seed_room` (without its pending change request, which
refuses edits) is added to both through the API. One `milestones
serve` per database, both running; each sample asks the two servers in turn (the order swapped
every time) over HTTP, one request at a time, so both see the same machine.

Measured per request (p50 and p99, seeded against empty): the room query uncached (an edit of
the room just before, untimed), `notifications(first: 20)`, the page of the 20 oldest
notifications (`after` the cursor of the 21st oldest), `notifications(unreadOnly: true)`, a
`notifications(after:)` subscription replaying 1,000 items (graphql-transport-ws, from
`subscribe` to the 1,000th `next`), `events(first: 100, after:)` deep in the long log (a
different cursor each time, so the room cache never answers), `contracts(first: 20)` for the
user with the many contracts, and `editMilestone` on the long log's contract (a new event and
a notification for the user with 100,000). A figure over the goal prints `EXPLAIN (ANALYZE,
BUFFERS)` of each statement its request sends (captured in-process with `bench.sql_log`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import websockets
from websockets.typing import Subprotocol

from bench.api import (
    CLIENT,
    FREELANCER,
    JWT_SECRET,
    ROOM_QUERY,
    GraphQLClient,
    Party,
    in_process,
)
from bench.growth_seed import EMPTY, FULL, QUICK, Scale, Seeded, seed
from bench.plan import Plan
from bench.postgres import Databases, asyncpg_dsn
from bench.report import Report, Row, machine_description
from bench.seed import SeededContract, activate, add_milestones, approve, create_contract
from bench.servers import VENV_BIN, Server, start_project
from bench.sql_log import Statement, statement_log
from milestones import ids

RESULTS = Path(__file__).parent / "results.md"
GOAL = 1.3
ROOM_MILESTONES = 50
REPLAY = 1_000

NOTIFICATIONS = """
query Notifications($first: Int, $after: String, $unreadOnly: Boolean) {
  notifications(first: $first, after: $after, unreadOnly: $unreadOnly) {
    unreadCount
    edges {
      cursor
      node { id kind message note createdAt readAt contract { id title } actor { id name } }
    }
    pageInfo { hasNextPage endCursor }
  }
}"""
CONTRACTS = """
query Contracts($first: Int) {
  contracts(first: $first) {
    edges {
      cursor
      node {
        id title currency status viewerRole createdAt
        client { id name } freelancer { id name }
      }
    }
    pageInfo { hasNextPage endCursor }
  }
}"""
EVENTS = """
query Events($id: ID!, $after: String) {
  contract(id: $id) {
    events(first: 100, after: $after) {
      edges { cursor node { id kind occurredAt note actor { id name } } }
      pageInfo { hasNextPage endCursor }
    }
  }
}"""
EDIT = """
mutation Edit($input: EditMilestoneInput!) {
  editMilestone(input: $input) { milestone { id version } userErrors { code message } }
}"""
SUBSCRIBE = "subscription Replay($after: String) { notifications(after: $after) { id cursor } }"


class BadAnswer(RuntimeError):
    pass


@dataclass
class Target:
    """One database and its server."""

    label: str  # "seeded" or "empty"
    url: str  # Tortoise URL of the database
    seeded: Seeded
    room: SeededContract
    server: Server | None = None

    @property
    def big_contract_id(self) -> str:
        return ids.encode("Contract", self.seeded.big_contract)

    @property
    def big_milestone_id(self) -> str:
        return ids.encode("Milestone", self.seeded.big_milestone)


async def _post(
    http: httpx.AsyncClient, who: Party, query: str, variables: dict[str, Any]
) -> dict[str, Any]:
    response = await http.post(
        "/graphql",
        content=json.dumps({"query": query, "variables": variables}).encode(),
        headers={"Authorization": who.authorization, "Content-Type": "application/json"},
    )
    if response.status_code != 200:
        raise BadAnswer(f"HTTP {response.status_code}: {response.text[:300]}")
    body: dict[str, Any] = response.json()
    if body.get("errors") or body.get("data") is None:
        raise BadAnswer(f"errors: {json.dumps(body.get('errors'))[:500]}")
    data: dict[str, Any] = body["data"]
    return data


def _expect(condition: bool, what: str) -> None:
    if not condition:
        raise BadAnswer(what)


# --- the requests: each one check of its answer, so a broken page cannot look fast ----------


async def room_after_change(http: httpx.AsyncClient, target: Target, i: int) -> float:
    """An edit of the room (untimed), then the room query: the cache misses. Its seconds."""
    edited = target.room.milestone_ids[20]
    data = await _post(
        http,
        CLIENT,
        EDIT,
        {"input": {"milestoneId": edited, "title": f"Milestone 21 ({target.label} {i})"}},
    )
    _expect(not data["editMilestone"]["userErrors"], f"room edit refused: {data}")
    started = time.perf_counter()
    data = await _post(http, CLIENT, ROOM_QUERY, {"id": target.room.contract_id})
    elapsed = time.perf_counter() - started
    room = data["contract"]
    _expect(room is not None and len(room["milestones"]) == ROOM_MILESTONES, "not the room")
    _expect(room["milestones"][20]["title"].endswith(f" {i})"), "the room was stale")
    return elapsed


async def notifications_first(http: httpx.AsyncClient, target: Target, i: int) -> None:
    data = (await _post(http, FREELANCER, NOTIFICATIONS, {"first": 20}))["notifications"]
    _expect(len(data["edges"]) == 20 and data["pageInfo"]["hasNextPage"], "first page")


def _notification_cursor(seq: int) -> str:
    return ids.encode_cursor("notification", seq)


async def notifications_oldest(http: httpx.AsyncClient, target: Target, i: int) -> None:
    variables = {"first": 20, "after": _notification_cursor(21)}
    data = (await _post(http, FREELANCER, NOTIFICATIONS, variables))["notifications"]
    _expect(len(data["edges"]) == 20 and not data["pageInfo"]["hasNextPage"], "oldest page")


async def notifications_unread(http: httpx.AsyncClient, target: Target, i: int) -> None:
    variables = {"first": 20, "unreadOnly": True}
    data = (await _post(http, FREELANCER, NOTIFICATIONS, variables))["notifications"]
    # The seeded handful, and what the room's edits and the mutations added (all unread).
    _expect(data["unreadCount"] >= 5 and len(data["edges"]) >= 5, "unread page")
    _expect(all(edge["node"]["readAt"] is None for edge in data["edges"]), "a read one")


async def events_deep(http: httpx.AsyncClient, target: Target, i: int) -> None:
    # A cursor of its own for every request (the warm-up's too): the room cache keeps answers
    # per variables, so a cursor asked twice is a cache hit. (With 300 cursors and, since the
    # samples went from 200 to 600, each asked twice, 305 of 600 samples were hits and the p50
    # sat five samples from the boundary between hits and misses: that decided the row.)
    span = target.seeded.scale.big_log - 100  # the cursors with a whole page after them
    after = span - i % span
    variables = {"id": target.big_contract_id, "after": ids.encode_cursor("event", after)}
    contract = (await _post(http, CLIENT, EVENTS, variables))["contract"]
    edges = contract["events"]["edges"]
    _expect(len(edges) == 100, f"{len(edges)} events")
    _expect(edges[0]["cursor"] == ids.encode_cursor("event", after + 1), "not after the cursor")


async def contracts_first(http: httpx.AsyncClient, target: Target, i: int) -> None:
    data = (await _post(http, CLIENT, CONTRACTS, {"first": 20}))["contracts"]
    edges = data["edges"]
    _expect(len(edges) == 20 and data["pageInfo"]["hasNextPage"], "contracts page")
    numbers = [ids.decode(edge["node"]["id"], "Contract") or 0 for edge in edges]
    _expect(numbers == sorted(numbers, reverse=True), "not newest first")


async def mutation(http: httpx.AsyncClient, target: Target, i: int) -> None:
    variables = {"input": {"milestoneId": target.big_milestone_id, "title": f"Milestone 1 ({i})"}}
    data = await _post(http, CLIENT, EDIT, variables)
    _expect(not data["editMilestone"]["userErrors"], f"edit refused: {data}")


@dataclass
class Replayer:
    """One graphql-transport-ws connection per target; each sample is one subscription."""

    socket: Any
    next_id: int = 0

    async def replay(self, after_seq: int) -> None:
        self.next_id += 1
        op = str(self.next_id)
        await self.socket.send(
            json.dumps(
                {
                    "id": op,
                    "type": "subscribe",
                    "payload": {
                        "query": SUBSCRIBE,
                        "variables": {"after": _notification_cursor(after_seq)},
                    },
                }
            )
        )
        received = 0
        while received < REPLAY:
            message = json.loads(await self.socket.recv())
            if message.get("id") != op:
                continue
            if message["type"] != "next" or message["payload"].get("errors"):
                raise BadAnswer(f"subscription: {json.dumps(message)[:300]}")
            seq = ids.decode_cursor(
                message["payload"]["data"]["notifications"]["cursor"], "notification"
            )
            _expect(seq == after_seq + received + 1, "replay out of order")
            received += 1
        await self.socket.send(json.dumps({"id": op, "type": "complete"}))


@contextlib.asynccontextmanager
async def replayer(server: Server) -> AsyncIterator[Replayer]:
    url = server.url.replace("http://", "ws://") + "/graphql"
    async with websockets.connect(
        url,
        subprotocols=[Subprotocol("graphql-transport-ws")],
        max_size=None,
        compression=None,
    ) as socket:
        await socket.send(
            json.dumps(
                {"type": "connection_init", "payload": {"authorization": FREELANCER.authorization}}
            )
        )
        ack = json.loads(await socket.recv())
        _expect(ack.get("type") == "connection_ack", f"no ack: {ack}")
        yield Replayer(socket)


# --- measuring ---------------------------------------------------------------------------------


@dataclass
class Figures:
    seconds: dict[str, list[float]]

    def p(self, label: str, q: float) -> float:
        values = sorted(self.seconds[label])
        index = min(len(values) - 1, max(0, round(q * (len(values) - 1))))
        return values[index]


def _ms(value: float) -> str:
    return f"{value * 1000:.1f} ms"


async def _sample(
    targets: list[Target],
    clients: dict[str, httpx.AsyncClient],
    probe: Callable[[httpx.AsyncClient, Target, int], Awaitable[float | None]],
    samples: int,
    warmup: int,
) -> Figures:
    seconds: dict[str, list[float]] = {target.label: [] for target in targets}
    for i in range(-warmup, samples):
        order = targets if i % 2 == 0 else list(reversed(targets))
        for target in order:
            started = time.perf_counter()
            own = await probe(clients[target.label], target, i + warmup)
            elapsed = own if own is not None else time.perf_counter() - started
            if i >= 0:
                seconds[target.label].append(elapsed)
    return Figures(seconds)


async def _sample_replays(targets: list[Target], samples: int, warmup: int) -> Figures:
    seconds: dict[str, list[float]] = {target.label: [] for target in targets}
    async with contextlib.AsyncExitStack() as stack:
        sockets = {}
        for target in targets:
            assert target.server is not None
            sockets[target.label] = await stack.enter_async_context(replayer(target.server))
        for i in range(-warmup, samples):
            order = targets if i % 2 == 0 else list(reversed(targets))
            for target in order:
                # Different places in the history, always 1,000 behind at least.
                after = target.seeded.freelancer_notifications - REPLAY - (i + warmup) % 200
                started = time.perf_counter()
                await sockets[target.label].replay(max(after, 0))
                if i >= 0:
                    seconds[target.label].append(time.perf_counter() - started)
    return Figures(seconds)


# Reads first: the writes notify the user whose handful of unread notifications is measured.
PROBES: dict[str, Callable[[httpx.AsyncClient, Target, int], Awaitable[float | None]]] = {
    "notifications(first: 20)": notifications_first,
    "notifications(first: 20, after: the 21st oldest): the oldest page": notifications_oldest,
    "notifications(unreadOnly: true), 5 unread of the history": notifications_unread,
    "events(first: 100, after:) deep in the long log": events_deep,
    "contracts(first: 20) for the user with the many contracts": contracts_first,
    "room query, uncached (first request after a change)": room_after_change,
    "mutation: editMilestone on the long log's contract": mutation,
}
READS = 5  # the first five; the replay runs after them
REPLAY_NAME = f"notifications(after:) subscription replaying {REPLAY:,} items"


@dataclass
class Explained:
    text: str
    buffers: int  # shared buffers hit or read by the statements' root nodes, all together
    milliseconds: float  # the statements' execution times, all together


def _root_buffers(plan: list[str]) -> int:
    for line in plan:
        if "Buffers:" in line:
            return sum(int(n) for n in re.findall(r"(?:hit|read)=(\d+)", line.split("temp")[0]))
    return 0


def _execution_ms(plan: list[str]) -> float:
    for line in plan:
        if line.startswith("Execution Time:"):
            return float(line.split()[2])
    return 0.0


async def _explain(target: Target, name: str) -> Explained:
    """EXPLAIN (ANALYZE, BUFFERS) of each statement one request of `name` sends (captured
    in-process on the same database; writes rolled back)."""
    statements: list[Statement] = []
    async with in_process(target.url) as api:
        with statement_log() as log:
            if name == REPLAY_NAME:
                from milestones.live.streams import BATCH
                from milestones.models import Notification

                after = target.seeded.freelancer_notifications - REPLAY
                query = (
                    Notification.filter(recipient_id=2, seq__gt=after).order_by("seq").limit(BATCH)
                )
                statements = [Statement("execute_query", query.sql(params_inline=True), ())]
            else:
                await PROBES[name](api.http, target, 10_000)
                statements = log.take()
    lines = [f"EXPLAIN (ANALYZE, BUFFERS) on the {target.label} database: {name}"]
    buffers, milliseconds = 0, 0.0
    connection = await asyncpg.connect(asyncpg_dsn(target.url))
    try:
        for statement in statements:
            if (
                not statement.sql.lstrip()
                .upper()
                .startswith(("SELECT", "UPDATE", "INSERT", "DELETE", "WITH"))
            ):
                continue
            transaction = connection.transaction()
            await transaction.start()
            try:
                plan = await connection.fetch(
                    f"EXPLAIN (ANALYZE, BUFFERS) {statement.sql}", *statement.params
                )
            except asyncpg.PostgresError as error:
                plan = []
                lines.append(f"-- {statement.sql}\n   (not explained: {error})")
            finally:
                await transaction.rollback()
            if plan:
                text = [str(row[0]) for row in plan]
                buffers += _root_buffers(text)
                milliseconds += _execution_ms(text)
                lines.append(f"-- {statement.sql}  {list(statement.params)}")
                lines.extend(f"   {line}" for line in text)
    finally:
        await connection.close()
    return Explained("\n".join(lines), buffers, milliseconds)


async def _explain_miss(report: Report, targets: list[Target], name: str) -> str:
    """The plans on the seeded database, and how much database work one request is on each:
    a figure that misses while the work stays the same is the machine's noise, not growth."""
    seeded, empty = [await _explain(target, name) for target in targets]
    report.note(
        f"Data growth, {name}: missed; the database work of one request (EXPLAIN ANALYZE,"
        f" all its statements): seeded {seeded.buffers} buffers, {seeded.milliseconds:.2f} ms;"
        f" empty {empty.buffers} buffers, {empty.milliseconds:.2f} ms."
    )
    return seeded.text


# --- preparing the two databases ---------------------------------------------------------------


async def seed_editable_room(api: GraphQLClient) -> SeededContract:
    """`bench.seed.seed_room` without its pending change request (which refuses edits): the
    first milestone paid, the second funded, the rest upcoming."""
    room = await create_contract(api, f"Website redesign ({ROOM_MILESTONES} milestones)")
    await add_milestones(api, room, ROOM_MILESTONES)
    await activate(api, room.milestone_ids[0])
    await approve(api, room.milestone_ids[0])
    await activate(api, room.milestone_ids[1])
    return room


def _migrate(url: str) -> None:
    subprocess.run(
        [str(VENV_BIN / "milestones"), "migrate"],
        env={**os.environ, "DATABASE_URL": url},
        check=True,
        capture_output=True,
    )


async def prepare(databases: Databases, label: str, scale: Scale) -> Target:
    url = await databases.create(f"growth_{label}")
    _migrate(url)
    print(
        f"  seeding {label} ({scale.contracts:,} contracts, {scale.events:,} events) ...",
        flush=True,
    )
    seeded = await seed(asyncpg_dsn(url), scale)
    print(f"    {seeded.seconds:.0f} s", flush=True)
    async with in_process(url) as api:
        room = await seed_editable_room(api)
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        # The room's making notified the freelancer: read, so the handful stays a handful.
        await connection.execute(
            "UPDATE notifications SET read_at = created_at WHERE recipient_id = 2 "
            "AND read_at IS NULL AND seq > $1",
            seeded.freelancer_notifications,
        )
        await connection.execute("ANALYZE")
    finally:
        await connection.close()
    return Target(label, url, seeded, room)


def _row(name: str, figures: Figures, seeded: Target, empty: Target) -> Row:
    p50 = figures.p(seeded.label, 0.5), figures.p(empty.label, 0.5)
    p99 = figures.p(seeded.label, 0.99), figures.p(empty.label, 0.99)
    r50, r99 = p50[0] / p50[1], p99[0] / p99[1]
    return Row(
        benchmark=f"Data growth: {name}",
        project=f"p50 {_ms(p50[0])} / p99 {_ms(p99[0])}",
        baselines=f"empty p50 {_ms(p50[1])} / p99 {_ms(p99[1])}",
        ratio=f"{r50:.2f}x / {r99:.2f}x",
        goal=f"p50 and p99 <= {GOAL:g}x",
        reached=r50 <= GOAL and r99 <= GOAL,
    )


async def run_growth(plan: Plan, report: Report, databases: Databases) -> None:
    scale = QUICK if plan.quick else FULL
    samples, replays = plan.growth_samples, plan.growth_replays
    seeded = await prepare(databases, "seeded", scale)
    empty = await prepare(databases, "empty", EMPTY)
    targets = [seeded, empty]
    for target in targets:
        target.server = start_project(
            plan.run_dir,
            database_url=target.url,
            jwt_secret=JWT_SECRET,
            name=f"growth-{target.label}",
        )
    try:
        clients = {
            target.label: httpx.AsyncClient(base_url=target.server.url, timeout=60.0)
            for target in targets
            if target.server is not None
        }
        explained: list[str] = []
        for index, (name, probe) in enumerate(PROBES.items()):
            if index == READS:
                print(f"  {REPLAY_NAME} ({replays} each)", flush=True)
                figures = await _sample_replays(targets, replays, warmup=2)
                row = _row(REPLAY_NAME, figures, seeded, empty)
                report.add(row)
                if not row.reached:
                    explained.append(await _explain_miss(report, targets, REPLAY_NAME))
            print(f"  {name} ({samples} each)", flush=True)
            figures = await _sample(targets, clients, probe, samples, warmup=5)
            row = _row(name, figures, seeded, empty)
            report.add(row)
            if not row.reached:
                explained.append(await _explain_miss(report, targets, name))
        for client in clients.values():
            await client.aclose()
    finally:
        for target in targets:
            if target.server is not None:
                target.server.stop()
    for text in explained:
        print(text, flush=True)
    if explained:
        path = plan.run_dir / "growth-explain.txt"
        path.write_text("\n\n".join(explained) + "\n")
        report.note(f"Data growth: EXPLAIN (ANALYZE, BUFFERS) of the missed figures in {path}.")
    s, e = seeded.seeded, empty.seeded
    report.note(
        f"Data growth: seeded with COPY in {s.seconds:.0f} s ({s.scale.contracts:,} contracts,"
        f" {s.scale.events:,} events, {s.scale.notifications:,} notifications, one user with"
        f" {s.freelancer_notifications:,} notifications of which 5 unread, one contract with"
        f" {s.scale.big_log:,} events, one user with {s.scale.client_contracts:,} contracts);"
        f" empty: {e.scale.contracts} contracts, {e.scale.events:,} events, the same people with"
        f" {e.freelancer_notifications:,} notifications, {e.scale.big_log:,} events and"
        f" {e.scale.client_contracts} contracts (enough for each page and the replay, each page"
        f" naming as many contracts and people as on the seeded database); both plus"
        f" the {ROOM_MILESTONES}-milestone room through the API. One server per database, one"
        f" request at a time over HTTP, the two servers in turn; {samples} samples per request"
        f" after 5 warm-up ones ({replays} replays), p99 = the {0.99:.0%} order statistic."
    )


# --- standalone ----------------------------------------------------------------------------


def _write_results(report: Report, machine: str, command: str, seconds: float) -> None:
    """The growth rows into bench/results.md: a section of their own after the full run's."""
    marker = "\n<!-- bench.growth -->\n"
    text = RESULTS.read_text() if RESULTS.exists() else ""
    head = text.split(marker, 1)[0].rstrip("\n")
    section = report.markdown(machine, command, seconds)
    RESULTS.write_text(f"{head}\n{marker}\n## Data growth\n\n{section}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.growth", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a tenth of the scale, fewer samples")
    parser.add_argument("--keep-databases", action="store_true")
    parser.add_argument("--no-write", action="store_true", help=f"do not update {RESULTS.name}")
    args = parser.parse_args(argv)
    run_dir = Path(tempfile.mkdtemp(prefix="milestones-growth-"))
    plan = Plan.smoke(run_dir) if args.quick else Plan.full(run_dir)
    machine = machine_description()
    print(f"machine: {machine}; logs in {run_dir}", flush=True)
    report = Report()
    databases = Databases.new()
    started = time.monotonic()

    async def go() -> None:
        try:
            await run_growth(plan, report, databases)
        finally:
            if args.keep_databases:
                print(f"kept databases: {', '.join(databases.created)}")
            else:
                await databases.drop_all()

    asyncio.run(go())
    elapsed = time.monotonic() - started
    report.show()
    if not args.quick and not args.no_write:
        command = "python -m bench.growth " + " ".join(argv if argv is not None else sys.argv[1:])
        _write_results(report, machine, command.strip(), elapsed)
        print(f"written to {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
