"""Reconnect storms: sockets resuming `contractEvents` all at once, each with its own cursor a
few events behind (an instance died and its clients came back), while events keep coming;
against the same number of sockets subscribing fresh.

`python -m bench.storm [--sockets 10000] [--small 2000]` (also `python -m bench storm`). One
`milestones serve` (Redis broadcast) on a PostgreSQL database seeded through the API with a
contract of 60 events; the sockets come from the lean client processes of `bench.fanout`.

- Fresh storm: every socket connects and subscribes without a cursor; then one event. Live
  = that event reached every socket; the time runs from the first connect.
- Resume storm: every socket subscribes with `after` = one of the 50 newest events' cursors
  but one to fifty (round-robin), while an `editMilestone` every 0.5 s keeps adding events.
  Live = the socket received its first event (its catch-up). Then one more event: its delivery
  p50/p99 to every socket.
- Database work: `pg_stat_database.xact_commit` of the bench database over each storm (each
  of the server's statements outside a transaction is one). A storm's own reads are the
  resume storm's count minus the fresh storm's (both pay one token check and one access
  check per socket); measured at two sizes, they should grow with the distinct cursors, not
  with the sockets.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import dataclasses
import math
import sys
import tempfile
import threading
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
from prometheus_client.parser import text_string_to_metric_families

from bench.api import CLIENT, EDIT_MILESTONE, FREELANCER, JWT_SECRET, in_process, request_body
from bench.fanout import Clients, percentile, redis_unavailable, redis_url
from bench.plan import Plan
from bench.postgres import Databases, asyncpg_dsn
from bench.report import Report, Row, machine_description, ratio, seconds
from bench.seed import seed_upcoming
from bench.servers import HOST, Server, raise_open_files_limit, running, start_project
from bench.ws_client import WorkerSpec
from milestones import ids

SUBSCRIPTION = """
subscription ContractEvents($contractId: ID!, $after: String) {
  contractEvents(contractId: $contractId, after: $after) { id cursor kind occurredAt }
}"""
RESULTS = Path(__file__).with_name("results_storm.md")
SEED_EVENTS = 60
DISTINCT_CURSORS = 50
TRIGGER_EVERY_SECONDS = 0.5
T = TypeVar("T")


def _sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run `coroutine` to its end from synchronous code (in a thread of its own)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


async def _commits(dsn: str, database: str) -> int:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute("SELECT pg_stat_clear_snapshot()")
        value = await connection.fetchval(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = $1", database
        )
        return int(value)
    finally:
        await connection.close()


@dataclass
class Storm:
    sockets: int
    live: int
    live_seconds: float
    commits: int
    stream_reads: int  # milestones_subscription_reads_total over the storm
    from_recent: int = 0  # resumes served from a running group's recent results
    replays: int = 0  # resumes that replayed from the database
    p50: float = math.nan
    p99: float = math.nan
    errors: list[str] = dataclasses.field(default_factory=list)


class Target:
    """The server, its database, and a way to add an event."""

    def __init__(self, server: Server, url: str, database: str, milestone_id: str) -> None:
        self.server, self.url, self.database = server, url, database
        self.milestone_id = milestone_id
        self.http = httpx.Client(timeout=120)
        self.edits = 0
        self.lock = threading.Lock()

    def trigger(self) -> None:
        with self.lock:
            self.edits += 1
            title = f"Storm {self.edits}"
        response = self.http.post(
            f"{self.server.url}/graphql",
            content=request_body(
                EDIT_MILESTONE, {"input": {"milestoneId": self.milestone_id, "title": title}}
            ),
            headers={"Authorization": CLIENT.authorization, "Content-Type": "application/json"},
        )
        response.raise_for_status()
        if response.json().get("errors"):
            raise RuntimeError(f"storm trigger failed: {response.text[:300]}")

    def commits(self) -> int:
        time.sleep(0.6)  # the statistics collector's interval (500 ms) has passed
        return _sync(_commits(asyncpg_dsn(self.url), self.database))

    def counters(self) -> dict[str, int]:
        """The server's subscription reads so far (shared and replay), and its resumes by how
        they were served (recent, replay)."""
        text = self.http.get(f"{self.server.url}/metrics").text
        counts = {"reads": 0, "recent": 0, "replay": 0}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if not sample.name.endswith("_total"):
                    continue
                if family.name == "milestones_subscription_reads":
                    counts["reads"] += int(sample.value)
                elif family.name == "milestones_subscription_resumes":
                    counts[sample.labels["served"]] += int(sample.value)
        return counts

    def event_seq(self, contract_id: str) -> int:
        pk = ids.decode(contract_id, "Contract")

        async def read() -> int:
            connection = await asyncpg.connect(asyncpg_dsn(self.url))
            try:
                return int(
                    await connection.fetchval("SELECT event_seq FROM contracts WHERE id = $1", pk)
                )
            finally:
                await connection.close()

        return _sync(read())


def _spec(target: Target, count: int, contract_id: str, afters: tuple[str, ...]) -> WorkerSpec:
    return WorkerSpec(
        HOST,
        target.server.port,
        "/graphql",
        count,
        "graphql",
        (CLIENT.authorization, FREELANCER.authorization),
        SUBSCRIPTION,
        {"contractId": contract_id},
        time.monotonic() + 180,
        afters,
    )


def _live(times: list[float | None], started: float) -> tuple[int, float]:
    arrived = [t for t in times if t is not None]
    return len(arrived), (max(arrived) - started if arrived else math.inf)


def fresh_storm(target: Target, count: int, contract_id: str, processes: int) -> Storm:
    before, counters = target.commits(), target.counters()
    started = time.monotonic()
    clients = Clients(_spec(target, count, contract_id, ()), processes)
    try:
        _connected, errors = clients.connected(timeout=300)
        for _ in range(3):  # subscriptions start asynchronously: until one event reaches all
            clients.arm()
            target.trigger()
            times, more = clients.collect(30)
            errors += more
            if all(t is not None for t in times):
                break
        live, live_seconds = _live(times, started)
    finally:
        clients.close()
    commits = target.commits() - before
    reads = target.counters()["reads"] - counters["reads"]
    return Storm(count, live, live_seconds, commits, reads, errors=errors[:5])


def resume_storm(target: Target, count: int, contract_id: str, processes: int) -> Storm:
    newest = target.event_seq(contract_id)
    afters = tuple(
        ids.encode_cursor("event", newest - behind) for behind in range(1, DISTINCT_CURSORS + 1)
    )
    stop = threading.Event()

    def keep_coming() -> None:
        while not stop.wait(TRIGGER_EVERY_SECONDS):
            target.trigger()

    before, counters = target.commits(), target.counters()
    started = time.monotonic()
    clients = Clients(_spec(target, count, contract_id, afters), processes)
    trigger = threading.Thread(target=keep_coming, daemon=True)
    trigger.start()
    try:
        _connected, errors = clients.connected(timeout=300)
        times, more = clients.collect(60)  # not armed: the first event since connecting
        errors += more
        live, live_seconds = _live(times, started)
        stop.set()
        trigger.join()
        commits = target.commits() - before
        after = target.counters()
        time.sleep(1.0)
        clients.arm()
        sent = time.monotonic()
        target.trigger()
        times, more = clients.collect(30)
        errors += more
        delays = [t - sent if t is not None else math.inf for t in times]
    finally:
        stop.set()
        clients.close()
    return Storm(
        count,
        live,
        live_seconds,
        commits,
        after["reads"] - counters["reads"],
        after["recent"] - counters["recent"],
        after["replay"] - counters["replay"],
        percentile(delays, 0.5),
        percentile(delays, 0.99),
        errors[:5],
    )


def run_storm(plan: Plan, report: Report, sockets: int, small: int) -> None:
    reason = redis_unavailable(redis_url())
    if reason is not None:
        report.add(Row("Reconnect storm", f"not run: {reason}", "-", "-", "-", None))
        return
    databases = Databases.new()

    async def seed() -> tuple[str, str, str]:
        url = await databases.create("storm")
        async with in_process(url) as api:
            contract = await seed_upcoming(api, "Storm", 1)
            milestone = contract.milestone_ids[0]
            for number in range(SEED_EVENTS):
                await api.ok(
                    CLIENT,
                    "editMilestone",
                    EDIT_MILESTONE,
                    {"input": {"milestoneId": milestone, "title": f"Seed {number}"}},
                )
        return url, contract.contract_id, milestone

    url, contract_id, milestone_id = _sync(seed())
    database = f"{databases.prefix}_storm"
    results: dict[tuple[str, int], Storm] = {}
    try:
        server = start_project(
            plan.run_dir, database_url=url, jwt_secret=JWT_SECRET, broadcast_url=redis_url()
        )
        with running(server):
            target = Target(server, url, database, milestone_id)
            for count in (small, sockets):
                processes = plan.fanout_client_processes if count >= 1000 else 1
                for kind, storm in (("fresh", fresh_storm), ("resume", resume_storm)):
                    print(f"  storm: {kind}, {count:,} sockets", flush=True)
                    result = storm(target, count, contract_id, processes)
                    print(f"     {result}", flush=True)
                    results[(kind, count)] = result
                    time.sleep(2.0)
    finally:
        _sync(databases.drop_all())

    big_fresh, big = results[("fresh", sockets)], results[("resume", sockets)]
    small_fresh, small_resume = results[("fresh", small)], results[("resume", small)]
    slower = big.live_seconds / big_fresh.live_seconds
    report.add(
        Row(
            benchmark=f"Reconnect storm: {sockets:,} sockets resuming with their own cursors"
            " (1 to 50 events behind) while events keep coming: all live",
            project=f"{seconds(big.live_seconds)} ({big.live:,} live)",
            baselines=f"fresh subscribe storm {seconds(big_fresh.live_seconds)}",
            ratio=ratio(slower),
            goal="<= 2x",
            reached=slower <= 2 and big.live == sockets,
        )
    )
    edits = big.live_seconds / TRIGGER_EVERY_SECONDS
    report.add(
        Row(
            benchmark="Reconnect storm: the subscriptions' database reads during the resume"
            f" storm, {sockets:,} vs {small:,} sockets",
            project=f"{big.stream_reads:,} ({big.stream_reads / big.live_seconds:,.0f}/s)",
            baselines=f"{small_resume.stream_reads:,} at {small:,} sockets",
            ratio=f"{big.stream_reads / max(small_resume.stream_reads, 1):.2f}x for"
            f" {sockets / small:g}x the sockets",
            goal="grows with the distinct cursors and new events, not the sockets",
            reached=big.stream_reads <= 2 * (DISTINCT_CURSORS + edits + 10),
        )
    )
    report.add(
        Row(
            benchmark=f"Reconnect storm: all database transactions, {sockets:,} sockets",
            project=f"resume {big.commits:,} ({big.commits / big.live_seconds:,.0f}/s)",
            baselines=f"fresh {big_fresh.commits:,}",
            ratio=ratio(big.commits / max(big_fresh.commits, 1)),
            goal="-",
            reached=None,
        )
    )
    report.add(
        Row(
            benchmark=f"Reconnect storm: a new event right after, to {sockets:,} sockets",
            project=f"p50 {seconds(big.p50)} / p99 {seconds(big.p99)}",
            baselines="-",
            ratio="-",
            goal="-",
            reached=None,
        )
    )
    report.note(
        f"Reconnect storm: {SEED_EVENTS} events seeded through the API; {DISTINCT_CURSORS}"
        f" distinct cursors round-robin; an editMilestone every {TRIGGER_EVERY_SECONDS:g} s"
        " during the resume storm; sockets from the fan-out client processes (graphql-transport"
        "-ws, two tokens). Transactions counted by pg_stat_database.xact_commit of the bench"
        " database over each storm; subscription reads by the server's"
        " milestones_subscription_reads_total. A socket resuming with a cursor joins a running"
        " execution of its viewer that remembers back to its cursor (its catch-up is sent from"
        " memory), else starts a replay of its own that merges into the others once level;"
        f" of the {sockets:,} resumes, {big.from_recent:,} were served from memory and"
        f" {big.replays:,} replayed from the database. Fresh sockets join one running execution"
        f" per viewer. Fresh {small:,}: {seconds(small_fresh.live_seconds)}; resume {small:,}:"
        f" {seconds(small_resume.live_seconds)}."
        + (f" Errors: {big.errors + big_fresh.errors}." if big.errors or big_fresh.errors else "")
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.storm", description=__doc__)
    parser.add_argument("--sockets", type=int, default=10_000)
    parser.add_argument("--small", type=int, default=2_000)
    parser.add_argument("--no-write", action="store_true", help=f"do not write {RESULTS.name}")
    args = parser.parse_args(argv)
    raise_open_files_limit()
    run_dir = Path(tempfile.mkdtemp(prefix="milestones-storm-"))
    machine = machine_description()
    print(f"machine: {machine}; logs in {run_dir}", flush=True)
    report = Report()
    started = time.monotonic()
    run_storm(Plan.full(run_dir), report, args.sockets, args.small)
    report.show()
    if not args.no_write:
        command = "python -m bench.storm " + " ".join(argv if argv is not None else sys.argv[1:])
        elapsed = time.monotonic() - started
        report.write(RESULTS, "Reconnect storms", machine, command.strip(), elapsed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
