"""`python -m bench [room] [mutations] [concurrency] [fanout] [storm] [fairuse] [deadlines]
[teams] [growth] [--quick]`: run, print one table.

Needs PostgreSQL (BENCH_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/postgres; a
fresh database per run, dropped afterwards), Redis for fan-out (BENCH_REDIS_URL, default
redis://127.0.0.1:6379/11) and wrk.
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable
from importlib.metadata import version
from pathlib import Path

from bench.api import JWT_SECRET, in_process
from bench.concurrency import run_concurrency
from bench.deadlines import run_deadlines
from bench.fair_use import mutation_milestones, run_rate_limit_cost
from bench.fanout import FanoutContract, run_fanout
from bench.growth import run_growth
from bench.mutations import milestones_needed, run_mutations
from bench.plan import BENCHMARKS, Plan
from bench.postgres import Databases, server_url
from bench.report import Report, Row, machine_description
from bench.room import count_room_statements, run_room
from bench.seed import SeededContract, seed_room, seed_upcoming
from bench.servers import raise_open_files_limit, running, start_project
from bench.storm import run_storm
from bench.teams import run_team_cost
from bench.wrk import wrk_path

RESULTS = Path(__file__).parent / "results.md"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "benchmarks",
        nargs="*",
        help=f"which to run: {', '.join(BENCHMARKS)} (default: all)",
        metavar="BENCHMARK",
    )
    parser.add_argument("--quick", action="store_true", help="a short smoke run (about 1 min)")
    parser.add_argument(
        "--fanout-counts", help="comma-separated subscriber counts (default 2000,10000)"
    )
    parser.add_argument(
        "--output",
        type=Path,
        help=f"write the table here (default: {RESULTS.name} for a full run of everything)",
    )
    parser.add_argument(
        "--keep-databases", action="store_true", help="do not drop the databases afterwards"
    )
    args = parser.parse_args(argv)
    unknown = sorted(set(args.benchmarks) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {BENCHMARKS}")
    return args


async def _guarded(report: Report, name: str, step: Callable[[], Awaitable[None]]) -> None:
    """A failing benchmark is a row of the table, not the end of the run."""
    try:
        await step()
    except Exception as error:
        traceback.print_exc()
        report.add(Row(name, f"FAILED: {type(error).__name__}: {error}"[:200], "-", reached=False))


async def run(plan: Plan, selected: list[str], keep_databases: bool) -> Report:
    report = Report()
    databases = Databases.new()
    main_url = await databases.create("main")
    print(f"database: {databases.prefix}_main; logs in {plan.run_dir}", flush=True)
    rooms: dict[int, SeededContract] = {}
    more_rooms: list[SeededContract] = []
    mutation_contract = None
    fanout_contracts: list[FanoutContract] = []
    fair_use_contracts: dict[str, SeededContract] = {}
    try:
        print("seeding through the API (in-process) ...", flush=True)
        started = time.monotonic()
        async with in_process(main_url) as api:
            if "room" in selected:
                rooms[plan.room_milestones] = await seed_room(api, plan.room_milestones)
                rooms[5] = await seed_room(api, 5)
                # Seven more of the same size: 16 (room, viewer) pairs with both parties.
                more_rooms = [await seed_room(api, plan.room_milestones) for _ in range(7)]
                await _guarded(
                    report,
                    "SQL statements per room query",
                    lambda: count_room_statements(
                        api, {size: room.contract_id for size, room in rooms.items()}, report
                    ),
                )
            if "mutations" in selected:
                mutation_contract = await seed_upcoming(
                    api, "Activate and approve", milestones_needed(plan)
                )
            if "fanout" in selected:
                # One for each project server (WebSocket, SSE): neither hears the other's.
                for transport in ("WebSocket", "SSE"):
                    seeded = await seed_upcoming(api, f"Fan-out ({transport})", 1)
                    fanout_contracts.append(
                        FanoutContract(seeded.contract_id, seeded.milestone_ids[0])
                    )
            if "fairuse" in selected:
                if plan.room_milestones not in rooms:
                    rooms[plan.room_milestones] = await seed_room(api, plan.room_milestones)
                for kind in ("off", "on"):
                    fair_use_contracts[kind] = await seed_upcoming(
                        api, f"Rate limits {kind}", mutation_milestones(plan)
                    )
        print(f"  seeded in {time.monotonic() - started:.1f} s", flush=True)

        if "room" in selected or mutation_contract is not None:
            project = start_project(plan.run_dir, database_url=main_url, jwt_secret=JWT_SECRET)
            with running(project):
                if "room" in selected:
                    room_id = rooms[plan.room_milestones].contract_id

                    async def room_step() -> None:
                        more = [room.contract_id for room in more_rooms]
                        run_room(plan, report, project, room_id, main_url, more)

                    await _guarded(report, "Room query", room_step)
                if mutation_contract is not None:
                    ids = mutation_contract.milestone_ids
                    await _guarded(
                        report,
                        "Mutations",
                        lambda: run_mutations(plan, report, databases, project, ids),
                    )
        if "concurrency" in selected:
            clients, seconds, passes = (4, 2.0, 2) if plan.quick else (32, 5.0, 4)

            async def concurrency_step() -> None:
                await run_concurrency(
                    report,
                    plan.run_dir,
                    clients=clients,
                    seconds=seconds,
                    workers=2,
                    passes=passes,
                )

            await _guarded(report, "Concurrency", concurrency_step)
        if fair_use_contracts:
            room_id = rooms[plan.room_milestones].contract_id
            by_kind = {
                kind: contract.milestone_ids for kind, contract in fair_use_contracts.items()
            }
            await _guarded(
                report,
                "Rate limits",
                lambda: run_rate_limit_cost(plan, report, main_url, room_id, by_kind),
            )
        if "teams" in selected:
            await _guarded(report, "Teams", lambda: run_team_cost(plan, report, main_url))
        if fanout_contracts:

            async def fanout_step() -> None:
                run_fanout(plan, report, main_url, *fanout_contracts)

            await _guarded(report, "Fan-out", fanout_step)
        if "storm" in selected:
            sockets, small = (500, 100) if plan.quick else (10_000, 2_000)

            async def storm_step() -> None:
                run_storm(plan, report, sockets, small)

            await _guarded(report, "Reconnect storm", storm_step)
        if "deadlines" in selected:
            await _guarded(
                report,
                "Deadlines",
                lambda: run_deadlines(report, server_url(), plan.deadline_count, plan.run_dir),
            )
        if "growth" in selected:
            # Databases of its own (seeded with COPY, and almost empty), servers of its own.
            await _guarded(report, "Data growth", lambda: run_growth(plan, report, databases))
    finally:
        if keep_databases:
            print(f"kept databases: {', '.join(databases.created)}")
        else:
            await databases.drop_all()
    return report


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    selected = args.benchmarks or list(BENCHMARKS)
    if "room" in selected:
        wrk_path()
    raise_open_files_limit()
    run_dir = Path(tempfile.mkdtemp(prefix="milestones-bench-"))
    plan = Plan.smoke(run_dir) if args.quick else Plan.full(run_dir)
    if args.fanout_counts:
        counts = tuple(int(n) for n in args.fanout_counts.split(","))
        plan = Plan(**{**plan.__dict__, "fanout_counts": counts})
    machine = machine_description()
    print(f"machine: {machine}")
    print(
        f"servers: uvicorn {version('uvicorn')} (uvloop {version('uvloop')}, httptools"
        f" {version('httptools')}), 1 worker, ws per-message-deflate off, log level warning"
    )
    print(f"benchmarks: {', '.join(selected)}{' (quick)' if plan.quick else ''}", flush=True)
    started = time.monotonic()
    report = asyncio.run(run(plan, selected, args.keep_databases))
    elapsed = time.monotonic() - started
    command = "python -m bench " + shlex.join(argv if argv is not None else sys.argv[1:])
    report.show()
    print(f"\n{elapsed:.0f} s in all")
    output = args.output
    if output is None and not plan.quick and not args.benchmarks and not args.fanout_counts:
        output = RESULTS
    if output is not None:
        output.write_text(report.markdown(machine, command.strip(), elapsed))
        print(f"written to {output}")
    # Goals missed are results; only a benchmark that could not run fails the command.
    return 1 if any(row.project.startswith("FAILED") for row in report.rows) else 0


if __name__ == "__main__":
    sys.exit(main())
