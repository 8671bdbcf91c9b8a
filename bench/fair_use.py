"""What rate limits cost on the hot paths: the room query (wrk) and activate -> approve cycles,
through two `milestones serve` processes on the same database that differ only in their
limits: all off, or all on at a level no client of the benchmark reaches (so every request is
metered, in-process, and none is refused). Rounds alternate between the two servers (the order
swapped every round) and the best round of each counts, so load from elsewhere on the machine
hits both alike."""

from __future__ import annotations

from bench.api import ROOM_QUERY, request_body
from bench.mutations import WARMUP_CYCLES, project_cycles
from bench.plan import Plan
from bench.report import Report, Row, rate, ratio
from bench.room import _measure
from bench.servers import running, start_project

# Metered, never tripping: as many GCRA updates as with real limits, no refusal.
UNREACHED = "1000000/second"
GOAL = 0.95


def mutation_milestones(plan: Plan) -> int:
    """Upcoming milestones each server's cycles use (every round)."""
    return (plan.mutation_cycles + WARMUP_CYCLES) * plan.fair_use_rounds


async def run_rate_limit_cost(
    plan: Plan,
    report: Report,
    database_url: str,
    jwt_secret: str,
    room_id: str,
    milestone_ids: dict[str, list[str]],
) -> None:
    body = request_body(ROOM_QUERY, {"id": room_id})
    room_rps: dict[str, list[float]] = {"off": [], "on": []}
    cycles: dict[str, list[float]] = {"off": [], "on": []}
    off = start_project(
        plan.run_dir, database_url=database_url, jwt_secret=jwt_secret, name="limits-off"
    )
    with running(off):
        on = start_project(
            plan.run_dir,
            database_url=database_url,
            jwt_secret=jwt_secret,
            name="limits-on",
            rate_limits=UNREACHED,
        )
        with running(on):
            servers = {"off": off, "on": on}
            per_round = plan.mutation_cycles + WARMUP_CYCLES
            for round_number in range(plan.fair_use_rounds):
                order = ("off", "on") if round_number % 2 == 0 else ("on", "off")
                for kind in order:
                    server = servers[kind]
                    result = _measure(plan, f"limits {kind}", f"{server.url}/graphql", body)
                    room_rps[kind].append(result.requests_per_second)
                    ids = milestone_ids[kind][round_number * per_round :][:per_round]
                    _, measured = await project_cycles(plan, server, ids)
                    print(f"     limits {kind}: {measured:,.1f} cycles/s", flush=True)
                    cycles[kind].append(measured)
    for name, numbers, unit in (
        ("Room query (wrk)", room_rps, "req/s"),
        ("Mutations: activate -> approve cycles", cycles, "cycles/s"),
    ):
        best_on, best_off = max(numbers["on"]), max(numbers["off"])
        report.add(
            Row(
                benchmark=f"{name} with rate limits on vs off",
                project=f"{rate(best_on) if unit == 'req/s' else f'{best_on:,.1f} {unit}'}",
                baselines=f"{rate(best_off) if unit == 'req/s' else f'{best_off:,.1f} {unit}'}"
                " (limits off)",
                ratio=ratio(best_on / best_off),
                goal=f">= {GOAL:g}x",
                reached=best_on / best_off >= GOAL,
            )
        )
    report.note(
        f"Rate limits: two servers on the same database, limits off vs all four at {UNREACHED}"
        f" (metered in-process, never refused); {plan.fair_use_rounds} alternating rounds,"
        " best of each; room query as above; mutation cycles as above on separate milestones."
    )
