"""How much to measure: the full run (`python -m bench`) or a smoke run (`--quick`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

BENCHMARKS = (
    "room",
    "mutations",
    "concurrency",
    "fanout",
    "storm",
    "fairuse",
    "deadlines",
    "teams",
    "growth",
)


@dataclass(frozen=True)
class Plan:
    quick: bool
    run_dir: Path  # server logs and the room response
    room_milestones: int = 50
    wrk_seconds: float = 10.0
    wrk_warmup_seconds: float = 2.0
    # The second-worker row (bench.room): four servers, each measured this many times (in
    # turns, every other pass in the reverse order), for this long each. Its baseline, canned
    # JSON with two workers, moved by a third between two runs in one pass of four.
    workers_passes: int = 4
    workers_wrk_seconds: float = 6.0
    mutation_cycles: int = 400
    mutation_max_seconds: float = 20.0
    fanout_counts: tuple[int, ...] = (2_000, 10_000)
    # Each server's measured rounds, the three servers' rounds in turns (bench.fanout): one
    # round's p99 moved by a half with the machine's state. At least `fanout_rounds`, and
    # enough for `fanout_deliveries` messages: at 2,000 sockets one round of 16 held 6% of the
    # deliveries, so the pooled p99 lay inside the slowest round, whichever server met it.
    fanout_rounds: int = 16
    fanout_deliveries: int = 80_000

    def fanout_rounds_for(self, sockets: int) -> int:
        return max(self.fanout_rounds, -(-self.fanout_deliveries // sockets))

    fanout_timeout_seconds: float = 30.0  # per round: later than this counts as missed
    fanout_connect_seconds: float = 120.0  # sockets not connected by then count as missed
    fanout_measure_seconds: float = 180.0  # no further rounds once this much has passed
    fanout_client_processes: int = 2
    fair_use_requests: int = 3000  # room queries per app, limits off / on, interleaved
    deadline_count: int = 10_000  # review deadlines falling due at once
    team_requests: int = 1000  # room queries per contract, team / solo, interleaved
    # Requests per figure and database (bench.growth): with 600, p99 is the 7th slowest, not
    # (as with 200) the 2nd, which one pause of the machine decided.
    growth_samples: int = 600
    # Subscriptions replaying 1,000 notifications, per database: with 30, p99 was the slowest
    # replay of 30, and one pause of the machine decided it (1.35x once, the database work of
    # a replay 0.32 ms on either database); with 200 it is the 2nd slowest of 200.
    growth_replays: int = 200

    @classmethod
    def full(cls, run_dir: Path) -> Plan:
        return cls(quick=False, run_dir=run_dir)

    @classmethod
    def smoke(cls, run_dir: Path) -> Plan:
        return cls(
            quick=True,
            run_dir=run_dir,
            wrk_seconds=2.0,
            wrk_warmup_seconds=1.0,
            workers_passes=2,
            workers_wrk_seconds=2.0,
            mutation_cycles=30,
            mutation_max_seconds=10.0,
            fanout_counts=(100, 500),
            fanout_rounds=2,
            fanout_deliveries=0,
            fanout_timeout_seconds=15.0,
            fanout_connect_seconds=45.0,
            fanout_measure_seconds=40.0,
            fair_use_requests=300,
            deadline_count=1_000,
            team_requests=200,
            growth_samples=40,
            growth_replays=10,
        )
