"""One event to thousands of `contractEvents` subscribers on one server process, against a
bare Starlette websocket endpoint sending one message to every socket, at the same counts.

At the counts `Plan.fanout_mirrored_counts` (all of them in a full run), the three servers
run in turns and then in the reverse order, each figure over both runs' latencies, memory and
connect time the mean of both.

Latency runs from just before the trigger (the mutation's POST / the broadcast's POST) to the
arrival of the message on each socket, in client processes on the same machine. Memory is
the server's RSS with every subscriber connected and idle, minus its RSS before they came.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import multiprocessing
import os
import socket
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any
from urllib.parse import urlsplit

import httpx

from bench.api import CLIENT, EDIT_MILESTONE, FREELANCER, JWT_SECRET, request_body
from bench.plan import Plan
from bench.report import Report, Row, ratio, seconds
from bench.servers import HOST, Server, rss_kib, running, start_baseline, start_project
from bench.ws_client import WorkerSpec, worker_main

SUBSCRIPTION = """
subscription ContractEvents($contractId: ID!) {
  contractEvents(contractId: $contractId) { id cursor kind occurredAt }
}"""
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/11"
WARMUP_ROUNDS = 2
SETTLE_SECONDS = 1.0
P99_GOAL = 1.3
MEMORY_GOAL_KIB = 20.0  # the first round's goal
MEMORY_GOAL_RATIO = 1.1  # issue 16: against a bare Starlette WebSocket
CONNECT_GOAL_RATIO = 1.5  # issue 16: connect and subscribe vs a bare connect


def redis_url() -> str:
    return os.environ.get("BENCH_REDIS_URL") or DEFAULT_REDIS_URL


def redis_unavailable(url: str) -> str | None:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port or 6379), timeout=3) as sock:
            sock.sendall(b"PING\r\n")
            if not sock.recv(16).startswith(b"+PONG"):
                return "Redis did not answer PING"
    except OSError as error:
        return f"Redis unreachable: {error}"
    return None


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


@dataclass
class Fanout:
    sockets: int
    connected: int
    rounds: int
    p50: float
    p99: float
    missed: int
    rss_per_socket_kib: float
    connect_seconds: float
    errors: list[str]
    latencies: list[float] = dataclasses.field(default_factory=list, repr=False)


def pooled(runs: list[Fanout]) -> Fanout:
    """Runs of the same measurement as one: their latencies pooled (p50 and p99 over all of
    them), rounds and misses added up, memory and connect time the mean of the runs."""
    if len(runs) == 1:
        return runs[0]
    latencies = [t for run in runs for t in run.latencies]
    return Fanout(
        sockets=runs[0].sockets,
        connected=min(run.connected for run in runs),
        rounds=sum(run.rounds for run in runs),
        p50=percentile(latencies, 0.50),
        p99=percentile(latencies, 0.99),
        missed=sum(run.missed for run in runs),
        rss_per_socket_kib=statistics.fmean(run.rss_per_socket_kib for run in runs),
        connect_seconds=statistics.fmean(run.connect_seconds for run in runs),
        errors=sorted({error for run in runs for error in run.errors})[:3],
        latencies=latencies,
    )


class Clients:
    """Worker processes holding the sockets; every call waits for all of them."""

    def __init__(self, spec: WorkerSpec, processes: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.pipes: list[Connection] = []
        self.processes: list[Any] = []
        share, extra = divmod(spec.count, processes)
        for index in range(processes):
            ours, theirs = context.Pipe()
            count = share + (1 if index < extra else 0)
            worker_spec = dataclasses.replace(spec, count=count)
            process = context.Process(target=worker_main, args=(theirs, worker_spec), daemon=True)
            process.start()
            self.pipes.append(ours)
            self.processes.append(process)

    def _all(self, command: str | None, argument: object, timeout: float) -> list[Any]:
        if command is not None:
            for pipe in self.pipes:
                pipe.send((command, argument))
        replies = []
        for pipe in self.pipes:
            if not pipe.poll(timeout):
                raise TimeoutError(f"a client process did not answer {command!r} in {timeout}s")
            replies.append(pipe.recv())
        return replies

    def connected(self, timeout: float) -> tuple[int, list[str]]:
        replies = self._all(None, None, timeout)
        return sum(r[1] for r in replies), [e for r in replies for e in r[2]]

    def arm(self) -> None:
        self._all("arm", None, 30)

    def collect(self, timeout: float) -> tuple[list[float | None], list[str]]:
        replies = self._all("collect", timeout, timeout + 30)
        return [t for r in replies for t in r[1]], [e for r in replies for e in r[2]]

    def close(self) -> None:
        try:
            self._all("close", None, 30)
        except (TimeoutError, OSError, EOFError):
            pass
        for process in self.processes:
            process.join(10)
            if process.is_alive():
                process.kill()


def _measure(plan: Plan, server: Server, spec: WorkerSpec, trigger: Callable[[], None]) -> Fanout:
    trigger()  # the code path is warm, and the server idle, before counting its memory
    time.sleep(SETTLE_SECONDS)
    rss_before = rss_kib(server.pid)
    processes = plan.fanout_client_processes if spec.count >= 1000 else 1
    started = time.monotonic()
    spec = dataclasses.replace(spec, connect_deadline=started + plan.fanout_connect_seconds)
    clients = Clients(spec, processes)
    try:
        connected, errors = clients.connected(timeout=plan.fanout_connect_seconds + 120)
        connect_seconds = time.monotonic() - started
        print(f"     {connected:,} connected in {connect_seconds:.1f} s", flush=True)
        # Subscriptions start asynchronously: ring until one round reaches every socket.
        for _ in range(WARMUP_ROUNDS):
            clients.arm()
            trigger()
            times, round_errors = clients.collect(plan.fanout_timeout_seconds)
            errors += round_errors
            if all(t is not None for t in times):
                break
        time.sleep(SETTLE_SECONDS)
        rss_after = rss_kib(server.pid)
        latencies: list[float] = []
        measuring = time.monotonic()
        rounds = 0
        while rounds < plan.fanout_rounds and (
            rounds == 0 or time.monotonic() - measuring < plan.fanout_measure_seconds
        ):
            clients.arm()
            time.sleep(0.2)
            t0 = time.monotonic()
            trigger()
            times, round_errors = clients.collect(plan.fanout_timeout_seconds)
            errors += round_errors
            latencies += [t - t0 if t is not None else math.inf for t in times]
            latencies += [math.inf] * (spec.count - connected)
            rounds += 1
            time.sleep(0.5)
    finally:
        clients.close()
    return Fanout(
        sockets=spec.count,
        connected=connected,
        rounds=rounds,
        p50=percentile(latencies, 0.50),
        p99=percentile(latencies, 0.99),
        missed=sum(1 for t in latencies if t == math.inf),
        rss_per_socket_kib=(rss_after - rss_before) / max(connected, 1),
        connect_seconds=connect_seconds,
        errors=sorted(set(errors))[:3],
        latencies=latencies,
    )


def measure_bare(plan: Plan, count: int) -> Fanout:
    with running(start_baseline("bare-ws", plan.run_dir)) as server, httpx.Client() as http:
        spec = WorkerSpec(HOST, server.port, "/ws", count, "bare", ("",), "", {}, 0.0)

        def trigger() -> None:
            http.post(f"{server.url}/broadcast", timeout=120).raise_for_status()

        return _measure(plan, server, spec, trigger)


def measure_project(
    plan: Plan,
    count: int,
    database_url: str,
    contract_id: str,
    milestone_id: str,
    mode: str = "graphql",
) -> Fanout:
    """`mode`: "graphql" (graphql-transport-ws) or "sse" (GraphQL over server-sent events)."""
    server = start_project(
        plan.run_dir,
        database_url=database_url,
        jwt_secret=JWT_SECRET,
        broadcast_url=redis_url(),
        name=f"project-fanout-{mode}",
        # Two users hold every stream here: the per-user cap would refuse all but 40.
        extra_env={"MAX_EVENT_STREAMS_PER_USER": str(count)},
    )
    with running(server), httpx.Client() as http:
        spec = WorkerSpec(
            HOST,
            server.port,
            "/graphql",
            count,
            mode,
            (CLIENT.authorization, FREELANCER.authorization),
            SUBSCRIPTION,
            {"contractId": contract_id},
            0.0,
        )
        rounds = [0]

        def trigger() -> None:
            rounds[0] += 1
            body = request_body(
                EDIT_MILESTONE,
                {"input": {"milestoneId": milestone_id, "title": f"Fan-out {rounds[0]}"}},
            )
            response = http.post(
                f"{server.url}/graphql",
                content=body,
                headers={"Authorization": CLIENT.authorization, "Content-Type": "application/json"},
                timeout=120,
            )
            response.raise_for_status()
            payload = response.json()
            if payload.get("errors") or payload["data"]["editMilestone"]["userErrors"]:
                raise RuntimeError(f"fan-out trigger failed: {payload}")

        return _measure(plan, server, spec, trigger)


def _describe(result: Fanout) -> str:
    text = f"p50 {seconds(result.p50)} / p99 {seconds(result.p99)}"
    if result.missed:
        text += f" ({result.missed:,} of {result.sockets * result.rounds:,} missed)"
    return text


def run_fanout(
    plan: Plan, report: Report, database_url: str, contract_id: str, milestone_id: str
) -> None:
    reason = redis_unavailable(redis_url())
    if reason is not None:
        report.add(Row("Fan-out", f"not run: {reason}", "-", "-", "-", None))
        return
    last: tuple[Fanout, Fanout] | None = None
    for count in plan.fanout_counts:
        measures: dict[str, Callable[[], Fanout]] = {
            "bare websocket endpoint": functools.partial(measure_bare, plan, count),
            "project contractEvents": functools.partial(
                measure_project, plan, count, database_url, contract_id, milestone_id
            ),
            "project contractEvents over SSE": functools.partial(
                measure_project, plan, count, database_url, contract_id, milestone_id, "sse"
            ),
        }
        # The three in turns and then in the reverse order (A B C C B A), each figure over
        # both runs' latencies: the machine's drift weighs on the baseline and the project
        # alike.
        orders = [list(measures)]
        if count in plan.fanout_mirrored_counts:
            orders.append(list(reversed(measures)))
        runs: dict[str, list[Fanout]] = {name: [] for name in measures}
        for order in orders:
            for name in order:
                print(f"  fan-out: {name}, {count:,} sockets", flush=True)
                runs[name].append(measures[name]())
                print(f"     {_describe(runs[name][-1])}", flush=True)
        bare, project, sse = (pooled(runs[name]) for name in measures)
        for result, name in ((bare, "bare"), (project, "project"), (sse, "sse")):
            if result.errors:
                report.note(f"Fan-out {count:,} ({name}) socket errors: {result.errors}")
        measurable = project.p99 != math.inf and bare.p99 not in (0.0, math.inf)
        report.add(
            Row(
                benchmark=f"Fan-out, one event to {count:,} subscribers: delivery",
                project=_describe(project),
                baselines=f"bare ws {_describe(bare)}",
                ratio=ratio(project.p99 / bare.p99) + " (p99)" if measurable else "n/a",
                goal=f"p99 <= {P99_GOAL:g}x",
                reached=measurable and project.p99 <= P99_GOAL * bare.p99,
            )
        )
        sse_measurable = sse.p99 != math.inf and bare.p99 not in (0.0, math.inf)
        report.add(
            Row(
                benchmark=f"Fan-out over SSE, one event to {count:,} streams: delivery",
                project=_describe(sse),
                baselines=f"bare ws {_describe(bare)}",
                ratio=ratio(sse.p99 / bare.p99) + " (p99)" if sse_measurable else "n/a",
                goal=f"p99 <= {P99_GOAL:g}x",
                reached=sse_measurable and sse.p99 <= P99_GOAL * bare.p99,
            )
        )
        report.note(
            f"Fan-out {count:,}: sockets connected (and subscribed) in"
            f" {bare.connect_seconds:.1f} s (bare) / {project.connect_seconds:.1f} s (project)"
            f" / {sse.connect_seconds:.1f} s (SSE); {bare.rounds} / {project.rounds} /"
            f" {sse.rounds} measured rounds"
            + (
                " (two runs each, in turns then in reverse, latencies pooled)."
                if len(orders) > 1
                else "."
            )
        )
        last = (project, bare)
    if last is not None:
        project, bare = last
        per_socket = project.rss_per_socket_kib / bare.rss_per_socket_kib
        measured = bare.rss_per_socket_kib > 0
        report.add(
            Row(
                benchmark=f"Server memory per idle subscriber ({project.sockets:,})",
                project=f"{project.rss_per_socket_kib:.1f} KiB",
                baselines=f"bare ws {bare.rss_per_socket_kib:.1f} KiB",
                ratio=ratio(per_socket) if measured else "n/a",
                goal=f"<= {MEMORY_GOAL_RATIO:g}x (and <= {MEMORY_GOAL_KIB:g} KiB)",
                reached=measured
                and per_socket <= MEMORY_GOAL_RATIO
                and project.rss_per_socket_kib <= MEMORY_GOAL_KIB,
            )
        )
        slower = project.connect_seconds / bare.connect_seconds
        report.add(
            Row(
                benchmark=f"Connect and subscribe {project.sockets:,} sockets"
                " (graphql-transport-ws: connection_init with the token, subscribe)",
                project=seconds(project.connect_seconds),
                baselines=f"bare ws connect {seconds(bare.connect_seconds)}",
                ratio=ratio(slower),
                goal=f"<= {CONNECT_GOAL_RATIO:g}x",
                reached=slower <= CONNECT_GOAL_RATIO and project.connected == project.sockets,
            )
        )
    report.note(
        f"Fan-out: up to {plan.fanout_rounds} measured rounds per count after warm-up (a message"
        f" later than {plan.fanout_timeout_seconds:g} s, or a socket not connected within"
        f" {plan.fanout_connect_seconds:g} s, counts as missed); project on"
        f" {redis_url()} (graphql-transport-ws, token in connection_init, subscription"
        " `contractEvents(contractId) { id cursor kind occurredAt }`, trigger: editMilestone on"
        " the same server; SSE: the same subscription as one GET with Accept:"
        " text/event-stream per stream); bare: Starlette websocket under stock uvicorn (its"
        " sans-I/O WebSocket protocol; the project runs its own lighter subclass,"
        " milestones/web/ws_protocol.py), POST /broadcast sends to each socket in turn."
        " Clients: raw asyncio websocket protocol in"
        f" {plan.fanout_client_processes} processes (1 below 1,000 sockets), same machine."
        " Latency from just before the trigger request to each socket's receipt."
    )
