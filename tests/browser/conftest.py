"""A real server process and Debian's chromium driven by Playwright (no downloaded browser).

Fixtures:
    browser      a headless chromium (``/usr/bin/chromium`` or ``CHROMIUM_PATH``); missing,
                 it skips locally and fails under ``CI=true``
    server       a factory: ``server(database_file, env=...)`` starts ``milestones serve`` on a
                 free loopback port (with extra environment variables) and returns a
                 ``ServerProcess`` (``.url``, ``.stop()``, ``.kill()``, ``.start()``); every
                 one it started is stopped afterwards
    artifacts    the ``artifacts/`` folder for screenshots (gitignored)
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from milestones.auth import issue_token
from tests.conftest import TEST_JWT_SECRET, in_ci
from tests.databases import migrated_sqlite_url

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_SECONDS = 30.0


def chromium_path() -> str | None:
    candidate = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
    return candidate if Path(candidate).is_file() else None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ServerProcess:
    """`milestones serve` in its own process, so that a test can kill and restart it."""

    def __init__(
        self,
        database_file: Path,
        log_file: Path,
        port: int | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.database_file = database_file
        self.log_file = log_file
        self.port = port or free_port()
        self.env = env or {}
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServerProcess:
        if not self.database_file.exists():  # a restart keeps the database
            migrated_sqlite_url(self.database_file)
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("MILESTONES_", "DATABASE_", "BROADCAST_", "SMTP_", "PUBLIC_URL"))
        }
        env |= {
            "DATABASE_URL": f"sqlite:///{self.database_file}",
            "BROADCAST_URL": "memory://",
            "JWT_SECRET": TEST_JWT_SECRET,
            "MILESTONES_ENV": "development",
            "LOG_FORMAT": "json",
        }
        env |= self.env
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "milestones.cli", "serve", "--port", str(self.port)],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the server exited early:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"the server did not become ready:\n{self.log_tail()}")

    def kill(self) -> None:
        """A crash: the WebSockets drop without a close frame."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
        self.process = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_file.read_text(errors="replace") if self.log_file.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


class GraphQLUser:
    """Someone using the API over real HTTP (the other side of the browser)."""

    def __init__(self, base_url: str, sub: str, name: str) -> None:
        self.base_url = base_url
        self.sub = sub
        self.name = name
        self.token = issue_token(TEST_JWT_SECRET, sub, name=name, email=f"{sub}@example.com")

    def gql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = httpx.post(
            f"{self.base_url}/graphql",
            json={"query": query, "variables": variables or {}},
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=10.0,
        )
        body = response.json()
        assert not body.get("errors"), body
        data: dict[str, Any] = body["data"]
        for payload in data.values():
            if isinstance(payload, dict):
                assert not payload.get("userErrors"), payload
        return data


# Module scope: sync Playwright keeps an event loop running while it is open, which the
# async tests of other modules must not find.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    path = chromium_path()
    reason = None
    if path is None:
        reason = "chromium is not installed (apt-get install -y chromium; .ci/run does it)"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        reason = reason or "the playwright package is missing (pip install -e '.[dev]')"
    if reason is not None:
        if in_ci():
            pytest.fail(f"{reason} (CI=true: the browser test must run)")
        pytest.skip(reason)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=path,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    started: list[ServerProcess] = []

    def start(
        database_file: Path | None = None,
        port: int | None = None,
        env: dict[str, str] | None = None,
    ) -> ServerProcess:
        process = ServerProcess(
            database_file or tmp_path / "room.sqlite3",
            tmp_path / f"server-{len(started)}.log",
            port,
            env,
        )
        started.append(process)
        return process.start()

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def artifacts() -> Path:
    folder = ROOT / "artifacts"
    folder.mkdir(exist_ok=True)
    return folder
