"""Mutations under concurrency: activate -> approve cycles of 32 clients at once, each on a
contract of its own (its own client and freelancer), against one client alone, on PostgreSQL.

`python -m bench.concurrency [--clients 32] [--seconds 5] [--passes 4] [--workers 2]` (also
`python -m bench concurrency`, and part of `make bench`). The contracts are seeded through the
API in-process; the database is then copied (`CREATE DATABASE ... TEMPLATE`) for the
baseline, `bench.minimal`'s hand-written asyncpg actions (seven statements each), which runs
the same two phases on a copy: one connection alone, then one connection per client. The
project runs as `milestones serve --workers N` (Redis broadcast), over HTTP from this process:
one keep-alive connection per client (`bench.api.LeanClient`). Each phase runs for a fixed time
after a warm-up; a cycle is counted when its approve answered. The four phases run in turns,
four passes, every other one in the reverse order (A B C D D C B A A B C D D C B A), each
figure the median of its four runs: the project's later runs go on from the milestones its
earlier ones left upcoming; bench.minimal (which sums a contract's ledger on every action, and
so slows as contracts grow) runs each time on a fresh copy. The load generator shares the 2
cores with the servers: its own CPU time is reported beside the figures, and so is the whole
machine's (busy cores, from /proc/stat): one client keeps about one core busy, since its
request goes from process to process one at a time, so the cores / that figure bound what
concurrency can give on this machine, as long as an action costs the same CPU either way.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from bench.api import (
    ACTIVATE_MILESTONE,
    APPROVE_MILESTONE,
    JWT_SECRET,
    GraphQLClient,
    Party,
    in_process,
    lean_over_http,
    party,
)
from bench.fanout import redis_url
from bench.minimal import activate as minimal_activate
from bench.minimal import approve as minimal_approve
from bench.postgres import Databases, asyncpg_dsn
from bench.report import Report, Row, busy_cpu_seconds, machine_description, ratio
from bench.seed import add_milestones, create_contract
from bench.servers import running, start_project
from milestones import ids

RESULTS = Path(__file__).with_name("results_concurrency.md")
WARMUP_SECONDS = 2.0
PASSES = 4  # the four phases in turns this many times (`run_concurrency`)
SECONDS = 5.0  # measured per phase and pass, after the warm-up


@dataclass(frozen=True, slots=True)
class Pair:
    client: Party
    freelancer: Party
    milestones: list[str]  # global ids, all upcoming

    def milestone_pks(self) -> list[int]:
        return [pk for m in self.milestones if (pk := ids.decode(m, "Milestone")) is not None]


async def _seed_pair(api: GraphQLClient, number: int, milestones: int) -> Pair:
    client = party(f"bench-conc-client-{number}", f"Client {number}")
    freelancer = party(f"bench-conc-freelancer-{number}", f"Freelancer {number}")
    contract = await create_contract(api, f"Concurrency {number}", client, freelancer)
    await add_milestones(api, contract, milestones, client)
    return Pair(client, freelancer, contract.milestone_ids)


Cycle = Callable[[int, int], Awaitable[None]]  # (pair number, milestone index)


@dataclass(frozen=True, slots=True)
class Measured:
    rate: float  # cycles per second
    cpu: float  # this process's (the load generator's) CPU seconds per wall second
    busy_cores: float  # the whole machine's busy CPU seconds per wall second
    ran_out: int = 0  # pairs that ran out of milestones before the phase ended, and stopped

    @property
    def cpu_per_cycle_ms(self) -> float:
        """The whole machine's CPU time per cycle."""
        return self.busy_cores / self.rate * 1000 if self.rate else float("inf")


async def _phase(
    pairs: list[Pair], cycle: Cycle, seconds: float, next_index: list[int]
) -> Measured:
    """Every pair cycling through its milestones at once for `seconds` after the warm-up.
    Each pair starts at its `next_index` (the milestones an earlier phase on the same database
    used are paid) and leaves it past the last one it used. Pairs do not go at the same pace
    (the two workers need not hold the same number of connections): a pair that runs out of
    milestones stops, and the phase says how many did; more than a quarter fails it."""
    done = [0]
    measuring = [False]
    stop = [False]
    ran_out: set[int] = set()

    async def worker(number: int) -> None:
        while not stop[0]:
            index = next_index[number]
            if index >= len(pairs[number].milestones):
                ran_out.add(number)
                if len(ran_out) > len(pairs) // 4:
                    raise RuntimeError(f"{len(ran_out)} pairs ran out of milestones: seed more")
                return
            next_index[number] = index + 1
            await cycle(number, index)
            if measuring[0]:
                done[0] += 1

    tasks = [asyncio.create_task(worker(n)) for n in range(len(pairs))]
    try:
        await asyncio.sleep(WARMUP_SECONDS)
        done[0], measuring[0] = 0, True
        cpu, busy, started = time.process_time(), busy_cpu_seconds(), time.perf_counter()
        await asyncio.sleep(seconds)
        elapsed = time.perf_counter() - started
        cycles, cpu_share = done[0], (time.process_time() - cpu) / elapsed
        busy_cores = (busy_cpu_seconds() - busy) / elapsed
        stop[0] = True
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
    return Measured(cycles / elapsed, cpu_share, busy_cores, len(ran_out))


async def _project(url: str, pairs: list[Pair], seconds: float, next_index: list[int]) -> Measured:
    # One client (and keep-alive connection) per pair, as separate users would have, each a
    # lean one (`bench.api.LeanClient`): the load generator shares the server's two cores.
    # (httpx cost 1.6 ms of CPU per cycle here, a fifth of the machine; one shared httpx pool
    # of 32 connections cost more still: it scans all of them on every request.)
    async with contextlib.AsyncExitStack() as stack:
        apis = [await stack.enter_async_context(lean_over_http(url)) for _ in pairs]

        async def cycle(number: int, index: int) -> None:
            pair, api = pairs[number], apis[number]
            milestone = {"milestoneId": pair.milestones[index]}
            await api.ok(pair.client, "activateMilestone", ACTIVATE_MILESTONE, {"input": milestone})
            await api.ok(
                pair.client,
                "approveMilestone",
                APPROVE_MILESTONE,
                {"input": {**milestone, "endContract": False}},
            )

        return await _phase(pairs, cycle, seconds, next_index)


async def _minimal(dsn: str, pairs: list[Pair], seconds: float, next_index: list[int]) -> Measured:
    connections = [await asyncpg.connect(dsn) for _ in pairs]
    pks = [pair.milestone_pks() for pair in pairs]
    try:

        async def cycle(number: int, index: int) -> None:
            connection, sub = connections[number], pairs[number].client.sub
            await minimal_activate(connection, sub, pks[number][index])
            await minimal_approve(connection, sub, pks[number][index])

        return await _phase(pairs, cycle, seconds, next_index)
    finally:
        for connection in connections:
            await connection.close()


@dataclass(frozen=True, slots=True)
class Figures:
    alone: Measured
    together: Measured


async def run_concurrency(
    report: Report,
    run_dir: Path,
    *,
    clients: int,
    seconds: float,
    workers: int,
    passes: int = PASSES,
) -> None:
    databases = Databases.new()
    try:
        # Enough milestones that no pair runs out: pairs do not go at the same pace (one
        # went about three times the mean), and the project's phases run `passes` times on
        # its database.
        per_pair = max(60, int(1_200 * passes * (seconds + WARMUP_SECONDS)) // clients)
        alone_milestones = max(500, int(300 * passes * (seconds + WARMUP_SECONDS)))
        url = await databases.create("concurrency")
        print(f"seeding {clients} contracts of {per_pair} milestones ...", flush=True)
        started = time.monotonic()
        async with in_process(url) as api:
            # Eight pairs at a time: PostgreSQL works on one while the app prepares another.
            pairs: list[Pair] = []
            for first in range(0, clients, 8):
                numbers = range(first, min(first + 8, clients))
                pairs += await asyncio.gather(*(_seed_pair(api, n, per_pair) for n in numbers))
            alone = [await _seed_pair(api, clients, alone_milestones)]
        print(f"  seeded in {time.monotonic() - started:.0f} s", flush=True)
        # bench.minimal sums a contract's ledger on every action, so it slows as contracts
        # grow: each of its runs gets a fresh copy of the seeded database.
        copies = [
            asyncpg_dsn(await databases.create(f"concurrency_minimal_{n}", template="concurrency"))
            for n in range(1, passes + 1)
        ]

        print(f"project: milestones serve --workers {workers}", flush=True)
        server = start_project(
            run_dir,
            database_url=url,
            jwt_secret=JWT_SECRET,
            broadcast_url=redis_url(),
            workers=workers,
        )
        # Where each pair goes on, per database.
        cursors = {key: [0] * len(pairs) for key in ("project", *copies)}
        alone_cursors = {key: [0] for key in ("project", *copies)}
        phases: dict[str, Callable[[int], Awaitable[Measured]]] = {
            "bench.minimal, one connection": lambda turn: _minimal(
                copies[turn], alone, seconds, alone_cursors[copies[turn]]
            ),
            "bench.minimal, one per client": lambda turn: _minimal(
                copies[turn], pairs, seconds, cursors[copies[turn]]
            ),
            "project, one client": lambda turn: _project(
                server.url, alone, seconds, alone_cursors["project"]
            ),
            "project, every client": lambda turn: _project(
                server.url, pairs, seconds, cursors["project"]
            ),
        }
        runs: dict[str, list[Measured]] = {name: [] for name in phases}
        with running(server):
            # In turns, every other pass in the reverse order (A B C D D C B A A B C D ...),
            # each figure the median of its runs: the machine's drift weighs on every phase
            # alike, and one slow patch does not decide a figure (one client alone ran 156
            # then 88 cycles/s in the two passes of one run, bench.minimal alone 194 then 131).
            for turn in range(passes):
                order = list(phases) if turn % 2 == 0 else list(reversed(phases))
                for name in order:
                    measured = await phases[name](turn)
                    runs[name].append(measured)
                    print(
                        f"  {name}: {measured.rate:,.1f} cycles/s,"
                        f" {measured.busy_cores:.2f} cores busy"
                        + (f", {measured.ran_out} pairs ran out" if measured.ran_out else ""),
                        flush=True,
                    )
    finally:
        await databases.drop_all()

    mean = {
        name: Measured(
            statistics.median(m.rate for m in measured),
            statistics.median(m.cpu for m in measured),
            statistics.median(m.busy_cores for m in measured),
            max(m.ran_out for m in measured),
        )
        for name, measured in runs.items()
    }

    def figures(alone_phase: str, together_phase: str) -> Figures:
        return Figures(mean[alone_phase], mean[together_phase])

    minimal = figures("bench.minimal, one connection", "bench.minimal, one per client")
    project = figures("project, one client", "project, every client")
    print(
        f"  bench.minimal {minimal.alone.rate:,.1f} -> {minimal.together.rate:,.1f} cycles/s",
        flush=True,
    )
    print(
        f"  project {project.alone.rate:,.1f} -> {project.together.rate:,.1f} cycles/s", flush=True
    )
    scaling = project.together.rate / project.alone.rate
    cores = os.cpu_count() or 1
    alone_busy = project.alone.busy_cores
    minimal_scaling = minimal.together.rate / minimal.alone.rate
    against_minimal = project.together.rate / minimal.together.rate
    report.add(
        Row(
            benchmark=f"Mutations: {clients} concurrent clients on distinct contracts"
            f" (--workers {workers}) vs one client",
            project=f"{project.together.rate:,.1f} cycles/s",
            baselines=f"one client {project.alone.rate:,.1f} cycles/s ({alone_busy:.2f} of"
            f" {cores} cores busy, {project.alone.cpu_per_cycle_ms:.1f} ms of CPU a cycle;"
            f" together {project.together.busy_cores:.2f},"
            f" {project.together.cpu_per_cycle_ms:.1f} ms)",
            ratio=ratio(scaling),
            goal=">= 2x",
            reached=scaling >= 2,
        )
    )
    report.add(
        Row(
            benchmark=f"Mutations: {clients} concurrent clients vs bench.minimal under the same"
            " concurrency",
            project=f"{project.together.rate:,.1f} cycles/s",
            baselines=f"bench.minimal {minimal.together.rate:,.1f} cycles/s"
            f" (one connection {minimal.alone.rate:,.1f}; {ratio(minimal_scaling)})",
            ratio=ratio(against_minimal),
            goal=">= 0.5x",
            reached=against_minimal >= 0.5,
        )
    )
    report.note(
        f"Concurrency: {clients} pairs (a client and a freelancer of their own, one contract"
        f" each, {per_pair} upcoming milestones as bench.seed adds them); one client alone on"
        f" a contract of its own; {WARMUP_SECONDS:g} s warm-up then {seconds:g} s per phase;"
        f" the four phases in turns, {passes} passes, every other one in the reverse order,"
        " each figure the median of its runs ("
        + ", ".join(
            f"{name} {' / '.join(f'{m.rate:,.1f}' for m in measured)}"
            for name, measured in runs.items()
        )
        + " cycles/s);"
        " the project over HTTP (a lean asyncio HTTP/1.1 client, bench.api.LeanClient, one"
        " keep-alive connection per client) with"
        f" `--workers {workers}` and Redis broadcast; bench.minimal over asyncpg, one"
        " connection per client, on a fresh copy of the seeded database for each of its runs."
        " The load generator runs on"
        " the same 2 cores: this process used"
        f" {project.alone.cpu:.2f} / {project.together.cpu:.2f} CPU seconds per second"
        f" against the project (alone / together), {minimal.alone.cpu:.2f} /"
        f" {minimal.together.cpu:.2f} against bench.minimal."
        f" The whole machine's busy cores (/proc/stat, every process: servers, PostgreSQL,"
        f" Redis, this one) alone / together: project {project.alone.busy_cores:.2f} /"
        f" {project.together.busy_cores:.2f}, bench.minimal {minimal.alone.busy_cores:.2f} /"
        f" {minimal.together.busy_cores:.2f} of {cores}. One client keeps about one core busy (the"
        f" request goes from process to process, one at a time); concurrency can at most fill"
        f" all {cores}. The gain is (cores busy together / alone) x (the machine's CPU a cycle"
        f" alone / together): with every core busy it passes {cores} / the one-client figure"
        " only where a cycle costs less CPU under load than alone, which this machine's days"
        " decide as much as the server (one client's cycle cost 4.9 ms of CPU on one day, 7.1-8.4"
        " another, with the same code)."
        + "".join(
            f" {name}: {m.ran_out} pairs ran out of milestones and stopped early."
            for name, m in mean.items()
            if m.ran_out
        )
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.concurrency", description=__doc__)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=SECONDS)
    parser.add_argument("--passes", type=int, default=PASSES)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-write", action="store_true", help=f"do not write {RESULTS.name}")
    args = parser.parse_args(argv)
    run_dir = Path(tempfile.mkdtemp(prefix="milestones-concurrency-"))
    machine = machine_description()
    print(f"machine: {machine}; logs in {run_dir}", flush=True)
    report = Report()
    started = time.monotonic()
    asyncio.run(
        run_concurrency(
            report,
            run_dir,
            clients=args.clients,
            seconds=args.seconds,
            workers=args.workers,
            passes=args.passes,
        )
    )
    elapsed = time.monotonic() - started
    report.show()
    if not args.no_write:
        command = "python -m bench.concurrency " + " ".join(
            argv if argv is not None else sys.argv[1:]
        )
        report.write(RESULTS, "Mutations under concurrency", machine, command.strip(), elapsed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
