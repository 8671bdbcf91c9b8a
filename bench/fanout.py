"""One event to thousands of `contractEvents` subscribers on one server process, against a
bare Starlette websocket endpoint sending one message to every socket, at the same counts.

The three servers (bare, the project over graphql-transport-ws, the project over SSE) are
started and their sockets connected one after the other; then their rounds are measured in
turns, one server at a time (A B C, C B A, ...), so that each figure comes from the same
stretch of time. One round's p99 moves by a half with the machine's state (a slow stretch
lasts seconds): measured one server after the other, the ratio was the luck of which server
met such a stretch.

Latency runs from just before the trigger (the mutation's POST / the broadcast's POST) to the
arrival of the message on each socket, in client processes on the same machine. Memory is
the server's RSS with every subscriber connected and idle, minus its RSS before they came.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import multiprocessing
import os
import socket
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
BARE, PROJECT, SSE = "bare websocket endpoint", "project contractEvents", "project over SSE"


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


@dataclass
class Target:
    """A server to measure: the sockets its clients open and the request that rings them."""

    name: str
    server: Server
    spec: WorkerSpec
    trigger: Callable[[], None]


class Live:
    """A target with its sockets connected: its rounds are measured one at a time, in turn
    with the other targets' (`measure_interleaved`)."""

    def __init__(self, plan: Plan, target: Target) -> None:
        self.target = target
        self.latencies: list[float] = []
        self.rounds = 0
        spec = target.spec
        target.trigger()  # the code path is warm, and the server idle, before counting its memory
        time.sleep(SETTLE_SECONDS)
        rss_before = rss_kib(target.server.pid)
        processes = plan.fanout_client_processes if spec.count >= 1000 else 1
        started = time.monotonic()
        spec = dataclasses.replace(spec, connect_deadline=started + plan.fanout_connect_seconds)
        self.clients = Clients(spec, processes)
        self.connected, self.errors = self.clients.connected(
            timeout=plan.fanout_connect_seconds + 120
        )
        self.connect_seconds = time.monotonic() - started
        print(
            f"     {target.name}: {self.connected:,} connected in {self.connect_seconds:.1f} s",
            flush=True,
        )
        # Subscriptions start asynchronously: ring until one round reaches every socket.
        for _ in range(WARMUP_ROUNDS):
            self.clients.arm()
            target.trigger()
            times, round_errors = self.clients.collect(plan.fanout_timeout_seconds)
            self.errors += round_errors
            if all(t is not None for t in times):
                break
        time.sleep(SETTLE_SECONDS)
        self.rss_per_socket_kib = (rss_kib(target.server.pid) - rss_before) / max(self.connected, 1)

    def measure_round(self, plan: Plan) -> None:
        self.clients.arm()
        time.sleep(0.2)
        t0 = time.monotonic()
        self.target.trigger()
        times, round_errors = self.clients.collect(plan.fanout_timeout_seconds)
        self.errors += round_errors
        latencies = [t - t0 if t is not None else math.inf for t in times]
        latencies += [math.inf] * (self.target.spec.count - self.connected)
        self.latencies += latencies
        self.rounds += 1
        time.sleep(0.5)

    def result(self) -> Fanout:
        return Fanout(
            sockets=self.target.spec.count,
            connected=self.connected,
            rounds=self.rounds,
            p50=percentile(self.latencies, 0.50),
            p99=percentile(self.latencies, 0.99),
            missed=sum(1 for t in self.latencies if t == math.inf),
            rss_per_socket_kib=self.rss_per_socket_kib,
            connect_seconds=self.connect_seconds,
            errors=sorted(set(self.errors))[:3],
            latencies=self.latencies,
        )


def round_orders(names: list[str], rounds: int) -> list[list[str]]:
    """The targets of each round of measurement: all of them, in turns, every other round in
    the reverse order (A B C, C B A, A B C, ...): a stretch of the machine's drift weighs on
    each of them alike, and none always follows the same one."""
    return [list(names) if index % 2 == 0 else list(reversed(names)) for index in range(rounds)]


def measure_interleaved(plan: Plan, targets: list[Target]) -> dict[str, Fanout]:
    """Connect each target's sockets (one target at a time: its connect time and memory are
    its own), then measure their rounds in turn (`plan.fanout_rounds_for` the sockets, each
    target), so every figure comes from the same stretch of time. The idle targets' sockets
    stay open; nothing is sent to them while another target is measured."""
    lives: list[Live] = []
    try:
        for target in targets:
            print(f"  fan-out: {target.name}, {target.spec.count:,} sockets", flush=True)
            lives.append(Live(plan, target))
        measuring = time.monotonic()
        by_name = {live.target.name: live for live in lives}
        rounds = plan.fanout_rounds_for(targets[0].spec.count)
        for order in round_orders(list(by_name), rounds):
            if lives[0].rounds and time.monotonic() - measuring > plan.fanout_measure_seconds:
                break
            for name in order:
                by_name[name].measure_round(plan)
    finally:
        for live in lives:
            live.clients.close()
    return {live.target.name: live.result() for live in lives}


def bare_target(plan: Plan, count: int, stack: contextlib.ExitStack, http: httpx.Client) -> Target:
    server = stack.enter_context(running(start_baseline("bare-ws", plan.run_dir)))
    spec = WorkerSpec(HOST, server.port, "/ws", count, "bare", ("",), "", {}, 0.0)

    def trigger() -> None:
        http.post(f"{server.url}/broadcast", timeout=120).raise_for_status()

    return Target(BARE, server, spec, trigger)


def project_target(
    plan: Plan,
    count: int,
    stack: contextlib.ExitStack,
    http: httpx.Client,
    database_url: str,
    contract: FanoutContract,
    mode: str = "graphql",
) -> Target:
    """`mode`: "graphql" (graphql-transport-ws) or "sse" (GraphQL over server-sent events).
    Each mode has a contract of its own: the other project server, idle meanwhile, does not
    hear of its events."""
    server = start_project(
        plan.run_dir,
        database_url=database_url,
        jwt_secret=JWT_SECRET,
        broadcast_url=redis_url(),
        name=f"project-fanout-{mode}",
        # Two users hold every stream here: the per-user cap would refuse all but 40.
        extra_env={"MAX_EVENT_STREAMS_PER_USER": str(count)},
    )
    stack.enter_context(running(server))
    spec = WorkerSpec(
        HOST,
        server.port,
        "/graphql",
        count,
        mode,
        (CLIENT.authorization, FREELANCER.authorization),
        SUBSCRIPTION,
        {"contractId": contract.contract_id},
        0.0,
    )
    rounds = [0]

    def trigger() -> None:
        rounds[0] += 1
        body = request_body(
            EDIT_MILESTONE,
            {"input": {"milestoneId": contract.milestone_id, "title": f"Fan-out {rounds[0]}"}},
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

    return Target(SSE if mode == "sse" else PROJECT, server, spec, trigger)


def _round_p99s(result: Fanout) -> str:
    """Each round's own p99, fastest to slowest, in ms."""
    per_round = len(result.latencies) // max(result.rounds, 1)
    p99s = sorted(
        percentile(result.latencies[start : start + per_round], 0.99)
        for start in range(0, per_round * result.rounds, per_round)
    )
    shown = " / ".join("timeout" if p == math.inf else f"{p * 1000:.0f}" for p in p99s)
    return f"{shown} ms"


def _describe(result: Fanout) -> str:
    text = f"p50 {seconds(result.p50)} / p99 {seconds(result.p99)}"
    if result.missed:
        text += f" ({result.missed:,} of {result.sockets * result.rounds:,} missed)"
    return text


@dataclass(frozen=True)
class FanoutContract:
    contract_id: str
    milestone_id: str


def run_fanout(
    plan: Plan,
    report: Report,
    database_url: str,
    contract: FanoutContract,
    sse_contract: FanoutContract,
) -> None:
    reason = redis_unavailable(redis_url())
    if reason is not None:
        report.add(Row("Fan-out", f"not run: {reason}", "-", "-", "-", None))
        return
    last: tuple[Fanout, Fanout] | None = None
    for count in plan.fanout_counts:
        with contextlib.ExitStack() as stack, httpx.Client() as http:
            targets = [
                bare_target(plan, count, stack, http),
                project_target(plan, count, stack, http, database_url, contract),
                project_target(plan, count, stack, http, database_url, sse_contract, "sse"),
            ]
            results = measure_interleaved(plan, targets)
        bare, project, sse = results[BARE], results[PROJECT], results[SSE]
        for result, name in ((bare, "bare"), (project, "project"), (sse, "sse")):
            print(f"     {name}: {_describe(result)}; {_round_p99s(result)}", flush=True)
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
            f" {sse.rounds} measured rounds; each round's own p99, fastest to slowest:"
            f" bare {_round_p99s(bare)}, project {_round_p99s(project)}, SSE {_round_p99s(sse)}."
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
        f"Fan-out: up to {plan.fanout_rounds} measured rounds per server and count (more where"
        f" fewer would deliver under {plan.fanout_deliveries:,} messages: at 2,000 sockets"
        f" {plan.fanout_rounds_for(2_000)}) after"
        " warm-up, the three servers' rounds in turns (A B C, C B A, ...; all three connected,"
        " only the measured one sent to; a message"
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
