"""What rate limits cost on the hot paths: the room query and activate -> approve cycles, with
every limit on (at a level the benchmark never reaches, so every request is metered and none
refused) against every limit off.

Both apps run in this process on the same database and connection pool, called straight
through ASGI (no HTTP client in the timing, so the limiter's share is not diluted), one
request to each in turn, the order swapped every time: load from elsewhere on the machine
lands on both alike, which whole-server runs on a shared machine cannot promise. The figure
is the median time of a request (a cycle) on each; ratio = off / on, as throughput."""

from __future__ import annotations

import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from bench.api import (
    ACTIVATE_MILESTONE,
    APPROVE_MILESTONE,
    CLIENT,
    JWT_SECRET,
    ROOM_QUERY,
    request_body,
)
from bench.plan import Plan
from bench.report import Report, Row, ratio

# Metered, never tripping: as many GCRA updates as with real limits, no refusal.
UNREACHED = "1000000/second"
GOAL = 0.95
WARMUP_REQUESTS = 50
WARMUP_CYCLES = 5

Asgi = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


def mutation_milestones(plan: Plan) -> int:
    """Upcoming milestones each app's cycles use."""
    return plan.mutation_cycles + WARMUP_CYCLES


async def call(app: Asgi, body: bytes) -> bytes:
    """One POST /graphql through the app's ASGI interface; the response body (200, no errors)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"bench"),
            (b"content-type", b"application/json"),
            (b"authorization", CLIENT.authorization.encode()),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
        "state": {},
    }
    sent = False
    status = 0
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    response = b"".join(chunks)
    if status != 200 or b'"errors"' in response or b'"userErrors":[{' in response:
        raise RuntimeError(f"HTTP {status}: {response[:300]!r}")
    return response


def _settings(database_url: str, limits: Any) -> Any:
    from milestones.config import Settings

    return Settings(
        database_url=database_url,
        broadcast_url="memory://",
        jwt_secret=JWT_SECRET,
        smtp_url=None,
        milestones_env="production",
        rate_limit_queries=limits,
        rate_limit_mutations=limits,
        rate_limit_notifying=limits,
        rate_limit_subscriptions=limits,
    )


async def _interleaved(
    apps: dict[str, Asgi], rounds: int, step: Callable[[Asgi, str, int], Awaitable[None]]
) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {kind: [] for kind in apps}
    for number in range(rounds):
        order = ("off", "on") if number % 2 == 0 else ("on", "off")
        for kind in order:
            started = time.perf_counter()
            await step(apps[kind], kind, number)
            times[kind].append(time.perf_counter() - started)
    return times


async def run_rate_limit_cost(
    plan: Plan,
    report: Report,
    database_url: str,
    room_id: str,
    milestone_ids: dict[str, list[str]],
) -> None:
    from milestones.app import create_app

    app_off = create_app(_settings(database_url, "off"))
    app_on = create_app(_settings(database_url, UNREACHED))
    room = request_body(ROOM_QUERY, {"id": room_id})

    def cycle_body(query: str, milestone_id: str, **extra: Any) -> bytes:
        return request_body(query, {"input": {"milestoneId": milestone_id, **extra}})

    async def room_step(app: Asgi, kind: str, number: int) -> None:
        await call(app, room)

    async def cycle_step(app: Asgi, kind: str, number: int) -> None:
        milestone_id = milestone_ids[kind][number]
        await call(app, cycle_body(ACTIVATE_MILESTONE, milestone_id))
        await call(app, cycle_body(APPROVE_MILESTONE, milestone_id, endContract=False))

    # One lifespan (ORM, wake-up bus) serves both: they differ only in their limits.
    async with app_off.router.lifespan_context(app_off):
        apps: dict[str, Asgi] = {"off": app_off, "on": app_on}
        assert orjson.loads(await call(app_on, room)) == orjson.loads(await call(app_off, room))
        await _interleaved(apps, WARMUP_REQUESTS, room_step)
        print(f"  rate limits: {plan.fair_use_requests} room queries each, interleaved")
        rooms = await _interleaved(apps, plan.fair_use_requests, room_step)
        cycles_total = min(len(ids) for ids in milestone_ids.values())
        print(f"  rate limits: {cycles_total} activate -> approve cycles each, interleaved")
        cycles = await _interleaved(apps, cycles_total, cycle_step)
    for name, times, unit, count in (
        ("Room query (in-process)", rooms, "req/s", WARMUP_REQUESTS),
        ("Mutations: activate -> approve cycles (in-process)", cycles, "cycles/s", WARMUP_CYCLES),
    ):
        # The first cycles warm the mutation path up; the room had its own warm-up above.
        kept = {
            kind: values[count if unit == "cycles/s" else 0 :] for kind, values in times.items()
        }
        on, off = (1 / statistics.median(kept[kind]) for kind in ("on", "off"))
        report.add(
            Row(
                benchmark=f"{name} with rate limits on vs off",
                project=f"{on:,.1f} {unit}",
                baselines=f"{off:,.1f} {unit} (limits off)",
                ratio=ratio(on / off),
                goal=f">= {GOAL:g}x",
                reached=on / off >= GOAL,
            )
        )
    report.note(
        f"Rate limits: the app with every limit at {UNREACHED} (metered in-process, never"
        " refused) vs every limit off, both in one process on the same database, called through"
        f" ASGI one request each in turn (order swapped each time); {plan.fair_use_requests} room"
        f" queries and {cycles_total - WARMUP_CYCLES} cycles each after warm-up; median request."
    )
