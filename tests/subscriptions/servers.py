"""Real `milestones serve` processes (and a private redis-server) for multi-instance tests.

Every process gets a free loopback port and its own session, is waited for on /readyz, and is
killed with its whole process group when the test ends, whatever the outcome. Its output goes
to a log file that is printed when it fails to start.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import httpx

from milestones.auth import issue_token
from tests.conftest import TEST_JWT_SECRET, Actor
from tests.databases import create_postgres_database, drop_postgres_database

START_SECONDS = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@asynccontextmanager
async def fresh_postgres_database(server_url: str, *, migrated: bool = True) -> AsyncIterator[str]:
    """A new database on the server of `server_url` (a copy of the migrated template, or empty),
    dropped afterwards."""
    name = f"milestones_mi_{secrets.token_hex(4)}"
    url = create_postgres_database(server_url, name, migrated=migrated)
    try:
        yield url
    finally:
        drop_postgres_database(server_url, name)


class Process:
    """A child process in its own session; `kill()` takes its whole group down."""

    def __init__(self, process: asyncio.subprocess.Process, log: Path) -> None:
        self.process = process
        self.log = log

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-5000:] if self.log.exists() else ""

    async def kill(self, sig: signal.Signals = signal.SIGKILL) -> None:
        if self.process.returncode is None:
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                pass
            try:
                await asyncio.wait_for(self.process.wait(), 10)
            except TimeoutError:
                os.killpg(self.process.pid, signal.SIGKILL)
                await self.process.wait()


async def spawn(args: list[str], env: dict[str, str], log: Path) -> Process:
    with log.open("wb") as output:
        process = await asyncio.create_subprocess_exec(
            *args,
            env={**os.environ, **env},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=output,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
    return Process(process, log)


class Server(Process):
    """`milestones serve` on a port of its own."""

    def __init__(self, process: asyncio.subprocess.Process, log: Path, port: int) -> None:
        super().__init__(process, log)
        self.port = port
        self.http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10)

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    def actor(self, sub: str, name: str | None = None, email: str | None = None) -> Actor:
        token = issue_token(TEST_JWT_SECRET, sub, name=name, email=email)
        return Actor(self.http, sub, token)

    async def wait_ready(self) -> None:
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.process.returncode is not None:
                break
            try:
                response = await self.http.get("/readyz")
                if response.status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
        raise AssertionError(f"server on port {self.port} did not get ready:\n{self.output()}")


class Cluster:
    """Servers sharing one database and one broker; all of them stopped on exit."""

    def __init__(self, database_url: str, broadcast_url: str, logs: Path) -> None:
        self.database_url = database_url
        self.broadcast_url = broadcast_url
        self.logs = logs
        self.servers: list[Server] = []

    async def start(self, *, workers: int = 1) -> Server:
        port = free_port()
        server = Server(
            (
                await spawn(
                    [
                        sys.executable,
                        "-m",
                        "milestones.cli",
                        "serve",
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(port),
                        "--workers",
                        str(workers),
                        "--log-level",
                        "warning",
                    ],
                    {
                        "DATABASE_URL": self.database_url,
                        "BROADCAST_URL": self.broadcast_url,
                        "JWT_SECRET": TEST_JWT_SECRET,
                        "MILESTONES_ENV": "development",
                    },
                    self.logs / f"server-{port}.log",
                )
            ).process,
            self.logs / f"server-{port}.log",
            port,
        )
        self.servers.append(server)
        await server.wait_ready()
        return server

    async def stop(self) -> None:
        for server in self.servers:
            await server.kill(signal.SIGTERM)
            await server.http.aclose()


@asynccontextmanager
async def cluster(postgres_url: str, broadcast_url: str, logs: Path) -> AsyncIterator[Cluster]:
    async with AsyncExitStack() as stack:
        database_url = await stack.enter_async_context(fresh_postgres_database(postgres_url))
        running = Cluster(database_url, broadcast_url, logs)
        stack.push_async_callback(running.stop)
        yield running


class RedisServer(Process):
    """A private redis-server: restarting it disturbs nobody else."""

    port: int

    @classmethod
    async def start(cls, port: int, logs: Path) -> RedisServer:
        binary = shutil.which("redis-server")
        assert binary is not None
        spawned = await spawn(
            [
                binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(port),
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            {},
            logs / f"redis-{port}.log",
        )
        server = cls(spawned.process, spawned.log)
        server.port = port
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    return server
            except OSError as error:
                if time.monotonic() > deadline:
                    raise AssertionError(
                        f"redis-server did not start:\n{server.output()}"
                    ) from error
                await asyncio.sleep(0.05)
