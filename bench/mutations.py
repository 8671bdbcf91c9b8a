"""Activate -> approve cycles per second: the project over HTTP against its own SQL replayed
with asyncpg, and against a hand-written minimal asyncpg implementation (`bench.minimal`).

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

from bench.api import CLIENT, GraphQLApi, GraphQLClient, in_process, lean_over_http
from bench.minimal import minimal_cycles
from bench.plan import Plan
from bench.postgres import Databases, asyncpg_dsn
from bench.report import Report, Row, ratio
from bench.seed import activate, approve, seed_upcoming
from bench.servers import Server
from bench.sql_log import Statement, statement_log
from milestones import ids

WARMUP_CYCLES = 5


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
    minimal: float  # cycles per second of bench.minimal's hand-written actions
    activates: list[int]  # the project's statements per activate
    approves: list[int]


async def asyncpg_baselines(plan: Plan, databases: Databases) -> Baselines:
    """Both asyncpg baselines, each on its own copy of the same seeded database."""
    recorded = await databases.create("mutations")
    async with in_process(recorded) as api:
        contract = await seed_upcoming(api, "Mutations baseline", milestones_needed(plan))
    copy = await databases.create("mutations_replay", template="mutations")
    minimal_copy = await databases.create("mutations_minimal", template="mutations")
    async with in_process(recorded) as api:
        steps = await _capture(api, contract.milestone_ids)
    elapsed = await _replay(asyncpg_dsn(copy), steps, 2 * WARMUP_CYCLES)
    pks = [ids.decode(milestone_id, "Milestone") for milestone_id in contract.milestone_ids]
    minimal = await minimal_cycles(
        asyncpg_dsn(minimal_copy), CLIENT.sub, [pk for pk in pks if pk is not None], WARMUP_CYCLES
    )
    return Baselines(
        replay=plan.mutation_cycles / elapsed,
        minimal=minimal,
        activates=[len(step) for step in steps[0::2]],
        approves=[len(step) for step in steps[1::2]],
    )


async def project_cycles(
    plan: Plan, project: Server, milestone_ids: list[str]
) -> tuple[int, float]:
    """(cycles, cycles per second) through `milestones serve`, one request at a time."""
    async with lean_over_http(project.url) as api:
        for milestone_id in milestone_ids[:WARMUP_CYCLES]:
            await cycle(api, milestone_id)
        started = time.perf_counter()
        done = 0
        for milestone_id in milestone_ids[WARMUP_CYCLES:]:
            await cycle(api, milestone_id)
            done += 1
            if time.perf_counter() - started > plan.mutation_max_seconds:
                break
        return done, done / (time.perf_counter() - started)


async def run_mutations(
    plan: Plan, report: Report, databases: Databases, project: Server, milestone_ids: list[str]
) -> None:
    print("  mutations: asyncpg replay of the project's SQL, and bench.minimal", flush=True)
    baselines = await asyncpg_baselines(plan, databases)
    baseline, activates, approves = baselines.replay, baselines.activates, baselines.approves
    print(f"     {baseline:,.1f} / {baselines.minimal:,.1f} cycles/s", flush=True)
    print("  mutations: project over HTTP", flush=True)
    cycles, measured = await project_cycles(plan, project, milestone_ids)
    print(f"     {measured:,.1f} cycles/s", flush=True)
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
            baselines=f"{baselines.minimal:,.1f} cycles/s (bench/minimal.py, 7 statements each)",
            ratio=ratio(measured / baselines.minimal),
            goal=">= 0.5x",
            reached=measured / baselines.minimal >= 0.5,
        )
    )

    def spread(counts: list[int]) -> str:
        low, high = min(counts), max(counts)
        middle = statistics.median(counts)
        return f"{middle:g}" if low == high else f"{middle:g} (from {low} to {high})"

    report.note(
        f"Mutations: {cycles} cycles through the project, {plan.mutation_cycles} replayed"
        f" (full release, endContract false; at most {plan.mutation_max_seconds:g} s) after"
        f" {WARMUP_CYCLES} warm-up ones. Baseline SQL captured from the project (tortoise.db_client"
        f" at DEBUG, one-off in-process run) and replayed verbatim with asyncpg on a copy of the"
        f" database, one transaction per step: {spread(activates)} statements per activate,"
        f" {spread(approves)} per approve (token check included)."
    )
