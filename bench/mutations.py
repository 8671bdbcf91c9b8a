"""Activate -> approve cycles per second: the project over HTTP against its own SQL replayed
with asyncpg, and against a hand-written minimal asyncpg implementation (`bench.minimal`), run
in this process and served over HTTP (`bench.baseline_apps` minimal-http: the same hop as the
project's, uvicorn, a token check and JSON each way).

The baseline's statements are the project's: a one-off in-process run of the same cycles
records every statement (with its parameters) from Tortoise's `tortoise.db_client` logger on
one database, and the baseline replays them verbatim, one transaction per step, on a copy of
that database made before the run (`CREATE DATABASE ... TEMPLATE`), so every statement meets
the state it was recorded against.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import asyncpg

from bench.api import (
    CLIENT,
    JWT_SECRET,
    GraphQLApi,
    GraphQLClient,
    in_process,
    lean_over_http,
)
from bench.minimal import STATEMENTS as MINIMAL_STATEMENTS
from bench.minimal import minimal_block
from bench.plan import Plan
from bench.postgres import Databases, asyncpg_dsn
from bench.report import Report, Row, ratio
from bench.seed import activate, approve, seed_upcoming
from bench.servers import Server, running, start_baseline
from bench.sql_log import Statement, statement_log
from milestones import ids

WARMUP_CYCLES = 5
STATEMENTS_GOAL = 8  # issue 16: per activate and per approve, the token check included
STATEMENTS_BEFORE = "19 / 17"  # issue 16's starting point
BLOCKS = 8  # `interleaved`: the project and the two bench.minimal take turns this many times


def milestones_needed(plan: Plan) -> int:
    return plan.mutation_cycles + WARMUP_CYCLES


async def cycle(api: GraphQLApi, milestone_id: str) -> None:
    await activate(api, milestone_id)
    await approve(api, milestone_id)


async def _capture(api: GraphQLClient, milestone_ids: list[str]) -> list[list[Statement]]:
    """The statements of each step (activate, approve, activate, ...) through the API."""
    steps: list[list[Statement]] = []
    with statement_log() as log:
        for milestone_id in milestone_ids:
            log.take()
            await activate(api, milestone_id)
            steps.append(log.take())
            await approve(api, milestone_id)
            steps.append(log.take())
    return steps


async def _replay_step(connection: asyncpg.Connection, step: list[Statement]) -> None:
    async with connection.transaction():
        for statement in step:
            if statement.method == "execute_many":
                await connection.executemany(statement.sql, statement.params)
            elif statement.method == "execute_script":
                await connection.execute(statement.sql)
            else:
                await connection.fetch(statement.sql, *statement.params)


async def _replay(dsn: str, steps: list[list[Statement]], warmup_steps: int) -> float:
    """Seconds to replay the steps after the warm-up ones."""
    connection = await asyncpg.connect(dsn)
    try:
        for step in steps[:warmup_steps]:
            await _replay_step(connection, step)
        started = time.perf_counter()
        for step in steps[warmup_steps:]:
            await _replay_step(connection, step)
        return time.perf_counter() - started
    finally:
        await connection.close()


@dataclass(frozen=True, slots=True)
class Baselines:
    replay: float  # cycles per second replaying the project's own SQL
    minimal_dsn: str  # a copy of the seeded database for bench.minimal
    minimal_http_dsn: str  # another, for bench.minimal served over HTTP
    minimal_milestones: list[int]  # their milestones' keys, in order (the same in both)
    activates: list[int]  # the project's statements per activate
    approves: list[int]


async def asyncpg_baselines(plan: Plan, databases: Databases) -> Baselines:
    """The replay baseline, and two copies of the same seeded database for bench.minimal, in
    this process and over HTTP (run later, in turn with the project: `interleaved`)."""
    recorded = await databases.create("mutations")
    async with in_process(recorded) as api:
        contract = await seed_upcoming(api, "Mutations baseline", milestones_needed(plan))
    copy = await databases.create("mutations_replay", template="mutations")
    minimal_copy = await databases.create("mutations_minimal", template="mutations")
    minimal_http_copy = await databases.create("mutations_minimal_http", template="mutations")
    async with in_process(recorded) as api:
        steps = await _capture(api, contract.milestone_ids)
    elapsed = await _replay(asyncpg_dsn(copy), steps, 2 * WARMUP_CYCLES)
    pks = [ids.decode(milestone_id, "Milestone") for milestone_id in contract.milestone_ids]
    return Baselines(
        replay=plan.mutation_cycles / elapsed,
        minimal_dsn=asyncpg_dsn(minimal_copy),
        minimal_http_dsn=asyncpg_dsn(minimal_http_copy),
        minimal_milestones=[pk for pk in pks if pk is not None],
        activates=[len(step) for step in steps[0::2]],
        approves=[len(step) for step in steps[1::2]],
    )


@dataclass(frozen=True, slots=True)
class Interleaved:
    cycles: int  # the project's, measured
    minimal_cycles: int
    project: float  # cycles per second
    minimal: float
    minimal_http: float


async def interleaved(
    plan: Plan,
    project: Server,
    milestone_ids: list[str],
    baselines: Baselines,
    minimal_http: Server,
) -> Interleaved:
    """The project's cycles (through `milestones serve`, one request at a time), bench.minimal's
    (one asyncpg connection) and bench.minimal's over HTTP (one request at a time), in turn, in
    `BLOCKS` blocks of the same size: this machine's speed drifts by tens of percent within a
    minute, and measured in turn a slow patch slows all three instead of one. Each block starts
    with a different side than the block before it. The project stops after
    `plan.mutation_max_seconds` of its own time."""
    measured = milestone_ids[WARMUP_CYCLES:]
    minimal = baselines.minimal_milestones
    over_http = [ids.encode("Milestone", pk) for pk in minimal]
    size = -(-len(measured) // BLOCKS)
    connection = await asyncpg.connect(baselines.minimal_dsn)
    seconds = [0.0, 0.0, 0.0]  # the project, bench.minimal, bench.minimal over HTTP
    done = [0, 0, 0]
    try:
        async with lean_over_http(project.url) as api, lean_over_http(minimal_http.url) as http:
            for index in range(WARMUP_CYCLES):
                await cycle(api, milestone_ids[index])
                await cycle(http, over_http[index])
            await minimal_block(connection, CLIENT.sub, minimal[:WARMUP_CYCLES])

            async def block_of(side: int, block: int) -> int:
                """One block of `side`; the cycles it ran. The baselines' milestones are the
                block's places after their own warm-up ones."""
                ours = measured[block * size : (block + 1) * size]
                first = WARMUP_CYCLES + block * size
                theirs = slice(first, first + len(ours))
                if side == 1:
                    seconds[1] += await minimal_block(connection, CLIENT.sub, minimal[theirs])
                    return len(minimal[theirs])
                client, targets = (api, ours) if side == 0 else (http, over_http[theirs])
                started = time.perf_counter()
                for milestone_id in targets:
                    await cycle(client, milestone_id)
                seconds[side] += time.perf_counter() - started
                return len(targets)

            for block in range(BLOCKS):
                if not measured[block * size : (block + 1) * size]:
                    break
                for side in ((0, 1, 2), (1, 2, 0), (2, 0, 1))[block % 3]:
                    done[side] += await block_of(side, block)
                if seconds[0] > plan.mutation_max_seconds:
                    break
    finally:
        await connection.close()
    return Interleaved(
        done[0],
        done[1],
        done[0] / seconds[0],
        done[1] / seconds[1],
        done[2] / seconds[2],
    )


async def run_mutations(
    plan: Plan, report: Report, databases: Databases, project: Server, milestone_ids: list[str]
) -> None:
    print("  mutations: asyncpg replay of the project's SQL", flush=True)
    baselines = await asyncpg_baselines(plan, databases)
    baseline, activates, approves = baselines.replay, baselines.activates, baselines.approves
    print(f"     {baseline:,.1f} cycles/s", flush=True)
    print(
        "  mutations: the project over HTTP, bench.minimal, and bench.minimal over HTTP, in turn",
        flush=True,
    )
    minimal_env = {"BENCH_DSN": baselines.minimal_http_dsn, "BENCH_JWT_SECRET": JWT_SECRET}
    with running(start_baseline("minimal-http", plan.run_dir, minimal_env)) as minimal_http:
        run = await interleaved(plan, project, milestone_ids, baselines, minimal_http)
    cycles, measured = run.cycles, run.project
    print(
        f"     {measured:,.1f} / {run.minimal:,.1f} / {run.minimal_http:,.1f} cycles/s", flush=True
    )
    # Issue 16's first row: the statements of each action, as the project's own log counts
    # them (BEGIN and COMMIT, which asyncpg sends, are not logged: add two round trips).
    most = max(max(activates), max(approves))
    report.add(
        Row(
            benchmark="SQL statements per activateMilestone / approveMilestone (token check"
            " included; BEGIN and COMMIT not counted)",
            project=f"{statistics.median(activates):g} / {statistics.median(approves):g}"
            f" (at most {max(activates)} / {max(approves)}: the first action after a start"
            " reads its user)",
            baselines=f"bench/minimal.py {MINIMAL_STATEMENTS} / {MINIMAL_STATEMENTS};"
            f" {STATEMENTS_BEFORE} at ac67bcb",
            ratio=ratio(statistics.median(activates) / MINIMAL_STATEMENTS) + " of minimal",
            goal=f"<= {STATEMENTS_GOAL} each",
            reached=most <= STATEMENTS_GOAL,
        )
    )
    report.add(
        Row(
            benchmark="Mutations: activate -> approve cycles (sequential client)",
            project=f"{measured:,.1f} cycles/s",
            baselines=f"{baseline:,.1f} cycles/s (same SQL, asyncpg)",
            ratio=ratio(measured / baseline),
            goal=">= 0.3x",
            reached=measured / baseline >= 0.3,
        )
    )
    report.add(
        Row(
            benchmark="Mutations: activate -> approve cycles vs a minimal asyncpg implementation",
            project=f"{measured:,.1f} cycles/s",
            baselines=f"{run.minimal:,.1f} cycles/s (bench/minimal.py,"
            f" {MINIMAL_STATEMENTS} statements each)",
            ratio=ratio(measured / run.minimal),
            goal=">= 0.5x",
            reached=measured / run.minimal >= 0.5,
        )
    )
    report.add(
        Row(
            benchmark="Mutations: activate -> approve cycles vs bench.minimal served over HTTP"
            " (the same hop as the project's: uvicorn, a token check, JSON each way)",
            project=f"{measured:,.1f} cycles/s",
            baselines=f"{run.minimal_http:,.1f} cycles/s (bench.minimal over HTTP, itself"
            f" {ratio(run.minimal_http / run.minimal)} of bench.minimal)",
            ratio=ratio(measured / run.minimal_http),
            goal="-",
            reached=None,
        )
    )

    def spread(counts: list[int]) -> str:
        low, high = min(counts), max(counts)
        middle = statistics.median(counts)
        return f"{middle:g}" if low == high else f"{middle:g} (from {low} to {high})"

    report.note(
        f"Mutations: {cycles} cycles through the project, {plan.mutation_cycles} replayed"
        f" (full release, endContract false; at most {plan.mutation_max_seconds:g} s) after"
        f" {WARMUP_CYCLES} warm-up ones; the project, bench.minimal ({run.minimal_cycles}"
        f" cycles on a copy of the seeded database) and bench.minimal over HTTP (as many, on"
        f" another copy) take turns, {BLOCKS} blocks each, each block starting with another"
        f" side than the one before. Baseline SQL captured from the"
        f" project (tortoise.db_client"
        f" at DEBUG, one-off in-process run) and replayed verbatim with asyncpg on a copy of the"
        f" database, one transaction per step: {spread(activates)} statements per activate,"
        f" {spread(approves)} per approve (token check included: a token seen before names its"
        f" user without a read)."
    )
