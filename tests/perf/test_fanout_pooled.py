"""The fan-out benchmark's runs in turns are pooled, not averaged: p50 and p99 over every
latency of both runs, rounds and misses added up."""

from __future__ import annotations

import math

from bench.fanout import Fanout, percentile, pooled


def _run(latencies: list[float], rss: float, connect: float, errors: list[str]) -> Fanout:
    return Fanout(
        sockets=4,
        connected=4 - sum(1 for t in latencies if t == math.inf) // 2,
        rounds=2,
        p50=percentile(latencies, 0.5),
        p99=percentile(latencies, 0.99),
        missed=sum(1 for t in latencies if t == math.inf),
        rss_per_socket_kib=rss,
        connect_seconds=connect,
        errors=errors,
        latencies=latencies,
    )


def test_two_runs_are_pooled() -> None:
    fast = _run([0.01] * 8, 10.0, 1.0, ["b"])
    slow = _run([0.02] * 6 + [math.inf] * 2, 20.0, 3.0, ["a", "b"])
    both = pooled([fast, slow])
    assert both.latencies == fast.latencies + slow.latencies
    assert both.p50 == 0.01 and both.p99 == math.inf  # the slow run's misses are in its tail
    assert (both.rounds, both.missed, both.connected) == (4, 2, 3)
    assert (both.rss_per_socket_kib, both.connect_seconds) == (15.0, 2.0)
    assert both.errors == ["a", "b"]


def test_one_run_is_itself() -> None:
    run = _run([0.01, 0.03], 1.0, 1.0, [])
    assert pooled([run]) is run
