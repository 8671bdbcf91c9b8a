"""Real `milestones serve` processes for the tests that need them: races, the HTTP audit.

Each server is its own OS process (uvicorn, one worker) on a free loopback port, started from
this virtualenv with the environment given; it is stopped (SIGTERM, then SIGKILL) on exit and
its log is shown when it fails to come up.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.conftest import TEST_JWT_SECRET
from tests.databases import create_postgres_database, drop_postgres_database

START_SECONDS = 30.0
SERVE = (sys.executable, "-m", "milestones.cli", "serve", "--host", "127.0.0.1")
SERVE_LOG = ("--log-level", "warning")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def server_environment(database_url: str, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MILESTONES_TEST_", "PYTEST_"))
    }
    env.update(
        DATABASE_URL=database_url,
        BROADCAST_URL="memory://",
        JWT_SECRET=TEST_JWT_SECRET,
        MILESTONES_ENV="development",
        SMTP_URL="",
    )
    env.pop("SMTP_URL")
    env.update(extra)
    return env


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-4000:]


def _start(env: dict[str, str], log: Path, port: int) -> subprocess.Popen[bytes]:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as output:
        return subprocess.Popen(
            [*SERVE, "--port", str(port), *SERVE_LOG],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


async def _wait_until_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    async with httpx.AsyncClient(base_url=url, timeout=2.0) as http:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssertionError(f"server exited with {process.returncode}:\n{_tail(log)}")
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get("/readyz")).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise AssertionError(f"server not ready after {START_SECONDS}s:\n{_tail(log)}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@dataclass(frozen=True)
class Server:
    url: str
    pid: int
    log: Path

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/graphql"

    def rss_bytes(self) -> int:
        """The process's resident memory, from /proc/<pid>/status."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError(f"no VmRSS for {self.pid}")


@contextlib.asynccontextmanager
async def serve_servers(
    env: dict[str, str], logs: Path, count: int = 1
) -> AsyncIterator[list[Server]]:
    """`count` servers on one database, started one after the other (each migrates first)."""
    processes: list[subprocess.Popen[bytes]] = []
    servers: list[Server] = []
    try:
        for index in range(count):
            port = free_port()
            log = logs / f"server-{index}-{port}.log"
            process = _start(env, log, port)
            processes.append(process)
            url = f"http://127.0.0.1:{port}"
            await _wait_until_ready(url, process, log)
            servers.append(Server(url, process.pid, log))
        yield servers
    finally:
        for process in processes:
            _stop(process)


@contextlib.asynccontextmanager
async def serve(env: dict[str, str], logs: Path, count: int = 1) -> AsyncIterator[list[str]]:
    """`count` servers on one database, started one after the other (each migrates first)."""
    async with serve_servers(env, logs, count) as servers:
        yield [server.url for server in servers]


@contextlib.contextmanager
def fresh_postgres_database(server_url: str, *, migrated: bool = True) -> Iterator[str]:
    """A new database on the PostgreSQL server of `server_url` (a copy of the migrated template,
    or empty); dropped afterwards."""
    name = f"milestones_race_{uuid.uuid4().hex[:12]}"
    url = create_postgres_database(server_url, name, migrated=migrated)
    try:
        yield url
    finally:
        drop_postgres_database(server_url, name)
