"""The fault-injection suite (`make chaos`): marks, services and the results table.

Every test module here is marked `chaos` (deselected from `make test` / `make test-postgres` by
the `-m "not chaos"` in pyproject's addopts) and `postgres`; the scenarios with a broker start a
private `redis-server` (never the shared Redis). Under `CI=true` a missing PostgreSQL or
`redis-server` binary fails the run instead of skipping it.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.chaos.harness import Tally
from tests.conftest import require_service, test_postgres_url
from tests.subscriptions.servers import RedisServer, free_port, fresh_postgres_database

COLUMNS = (
    "scenario",
    "requests",
    "lost",
    "doubled",
    "duplicate emails",
    "5xx",
    "5xx with internals",
    "peak RSS (MB)",
    "verdict",
)


@dataclass
class Row:
    scenario: str
    requests: int = 0
    lost: int = 0
    doubled: int = 0
    duplicate_emails: int = 0
    server_errors: int = 0
    internals: int = 0
    peak_rss_mb: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(
            self.lost or self.doubled or self.duplicate_emails or self.internals or self.problems
        )

    def cells(self) -> list[str]:
        verdict = "FAIL: " + "; ".join(self.problems) if self.problems else "ok"
        if self.failed and not self.problems:
            verdict = "FAIL"
        return [
            self.scenario,
            str(self.requests),
            str(self.lost),
            str(self.doubled),
            str(self.duplicate_emails),
            str(self.server_errors),
            str(self.internals),
            f"{self.peak_rss_mb:.0f}",
            verdict[:160],
        ]

    def count(self, tally: Tally, peak_rss_bytes: int) -> None:
        """What the scenario's clients saw; answers that leak or are not JSON with a request
        id (issue 10 item 10: every failure the GraphQL-over-HTTP way) are problems."""
        self.requests += tally.requests
        self.server_errors += tally.server_errors
        self.internals += len(tally.leaks)
        self.peak_rss_mb = max(self.peak_rss_mb, peak_rss_bytes / 2**20)
        self.problems += [f"internals: {leak[:100]}" for leak in tally.leaks[:1]]
        if tally.bare:
            self.problems.append(f"{len(tally.bare)} bare answers, e.g. {tally.bare[0]}")

    def check(self) -> None:
        """The suite's rule: no loss, no double, no duplicate email, no internals; and every
        scenario-specific problem recorded."""
        assert not self.failed, f"{self.scenario}: " + " | ".join(
            [
                f"lost {self.lost}",
                f"doubled {self.doubled}",
                f"duplicate emails {self.duplicate_emails}",
                f"5xx with internals {self.internals}",
                *self.problems,
            ]
        )


_ROWS: list[Row] = []


@pytest.fixture
def scoreboard() -> list[Row]:
    return _ROWS


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _ROWS:
        return
    ordered = sorted(_ROWS, key=lambda row: row.scenario)
    rows = [list(COLUMNS), *(row.cells() for row in ordered)]
    widths = [max(len(row[column]) for row in rows) for column in range(len(COLUMNS))]
    terminalreporter.section("fault injection")
    for number, row in enumerate(rows):
        terminalreporter.write_line(
            "| "
            + " | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
            + " |"
        )
        if number == 0:
            terminalreporter.write_line("|" + "|".join("-" * (w + 2) for w in widths) + "|")


@pytest.fixture
async def database() -> AsyncIterator[str]:
    """A fresh PostgreSQL database of its own, dropped afterwards."""
    async with fresh_postgres_database(test_postgres_url()) as url:
        yield url


@pytest.fixture
async def private_redis(tmp_path: Path) -> AsyncIterator[RedisServer]:
    """A redis-server of the test's own on a free port: faults there disturb nobody else."""
    if shutil.which("redis-server") is None:
        require_service("redis-server is not installed: the suite starts a private one")
    server = await RedisServer.start(free_port(), tmp_path)
    try:
        yield server
    finally:
        await server.kill()
