"""Servers under test, each a subprocess on a free loopback port, run the project's way."""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

HOST = "127.0.0.1"
VENV_BIN = Path(sys.executable).parent
REPO_ROOT = Path(__file__).resolve().parent.parent

# What `milestones serve` hands uvicorn (milestones/cli.py), so baselines run the same way:
# "auto" picks uvloop and httptools when installed, one worker, no per-message compression.
# (The project's own protocols are the project's: httptools writing each response in one
# `send`, `milestones/web/http_protocol.py`, and the WebSocket protocol holding less per idle
# socket, `milestones/web/ws_protocol.py`. The baselines are stock uvicorn apps.)
# Logging at "warning" for every server (the project's included): no access log per request.
UVICORN_SETTINGS: dict[str, object] = {
    "loop": "auto",
    "http": "auto",
    "ws_per_message_deflate": False,
    "proxy_headers": True,
    "log_level": "warning",
}
LOG_LEVEL = "warning"
START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 15.0


def raise_open_files_limit() -> int:
    """Soft RLIMIT_NOFILE up to the hard limit (thousands of sockets); returns the new limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1_048_576
    if soft == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def rss_kib(pid: int) -> int:
    """Resident set size of a process, in KiB (VmRSS of /proc/<pid>/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _start(
    name: str,
    argv: list[str],
    port: int,
    env: Mapping[str, str],
    log_dir: Path,
    ready_path: str,
) -> Server:
    log_path = log_dir / f"{name}-{port}.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        argv,
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        cwd=REPO_ROOT,
        preexec_fn=raise_open_files_limit,
    )
    log.close()
    server = Server(name, process, port, log_path)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while True:
        if process.poll() is not None:
            raise RuntimeError(
                f"{name} exited with status {process.returncode} while starting:\n"
                f"{server.log_tail()}"
            )
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{server.url}{ready_path}", timeout=2.0).status_code == 200:
                return server
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"{name} did not answer within {START_TIMEOUT_SECONDS}s")
        time.sleep(0.1)


RATE_LIMIT_BUDGETS = ("QUERIES", "MUTATIONS", "NOTIFYING", "SUBSCRIPTIONS")


def start_project(
    log_dir: Path,
    *,
    database_url: str,
    jwt_secret: str,
    broadcast_url: str = "memory://",
    name: str = "project",
    rate_limits: str = "off",
    extra_env: Mapping[str, str] | None = None,
    workers: int = 1,
) -> Server:
    """`milestones serve` (one worker unless asked; more need PostgreSQL and Redis),
    production mode, as deployed (plus `extra_env`); rate limits off unless asked (a benchmark
    client is one user going as fast as it can)."""
    port = free_port()
    argv = [
        str(VENV_BIN / "milestones"),
        "serve",
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        LOG_LEVEL,
    ]
    env = {
        "DATABASE_URL": database_url,
        "BROADCAST_URL": broadcast_url,
        "JWT_SECRET": jwt_secret,
        "MILESTONES_ENV": "production",
        **{f"RATE_LIMIT_{budget}": rate_limits for budget in RATE_LIMIT_BUDGETS},
        **(extra_env or {}),
    }
    return _start(name, argv, port, env, log_dir, "/healthz")


def start_baseline(
    kind: str,
    log_dir: Path,
    env: Mapping[str, str] | None = None,
    *,
    name: str | None = None,
    workers: int = 1,
) -> Server:
    """One of the baseline apps of `bench.baseline_apps`, under the same uvicorn settings."""
    port = free_port()
    argv = [sys.executable, "-m", "bench.baseline_apps", kind, "--host", HOST, "--port", str(port)]
    argv += ["--workers", str(workers)]
    return _start(name or kind, argv, port, env or {}, log_dir, "/healthz")


@contextlib.contextmanager
def running(server: Server) -> Iterator[Server]:
    try:
        yield server
    finally:
        server.stop()
