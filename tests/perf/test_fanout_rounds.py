"""The fan-out benchmark measures its servers' rounds in turns, and shows each round's p99."""

from __future__ import annotations

import math

from bench.fanout import Fanout, _round_p99s, percentile, round_orders


def test_rounds_take_turns_and_reverse() -> None:
    assert round_orders(["a", "b", "c"], 4) == [
        ["a", "b", "c"],
        ["c", "b", "a"],
        ["a", "b", "c"],
        ["c", "b", "a"],
    ]
    orders = round_orders(["a", "b", "c"], 16)
    # Every server measured as often, and as often first as last.
    assert all(sum(order.count(name) for order in orders) == 16 for name in "abc")
    assert sum(order[0] == "a" for order in orders) == sum(order[-1] == "a" for order in orders)


def test_each_rounds_p99_fastest_first() -> None:
    # Three rounds of 100 sockets, in the order measured: slow, missed (two sockets never
    # heard it), fast. One late socket is 1%: the p99 of the last round is still its fast one.
    slow = [0.05] * 98 + [0.2, 0.3]
    missed = [0.01] * 98 + [math.inf] * 2
    fast = [0.01] * 99 + [0.4]
    latencies = slow + missed + fast
    result = Fanout(
        sockets=100,
        connected=100,
        rounds=3,
        p50=percentile(latencies, 0.5),
        p99=percentile(latencies, 0.99),
        missed=2,
        rss_per_socket_kib=1.0,
        connect_seconds=1.0,
        errors=[],
        latencies=latencies,
    )
    assert _round_p99s(result) == "10 / 200 / timeout ms"
