"""The shared feed of a channel keeps a window of recent rows: a reader behind the others (a
replay) gets every row after its cursor, even when its read moves the window past it.

Found by bench.growth: a notifications replay of 1,000 items right after another one skipped
rows (the window was trimmed before the lagging reader's slice was taken)."""

from __future__ import annotations

from milestones.live.streams import BATCH, FEED_KEEPS, Feed

HISTORY = 2_000


async def _fetch(after: int, limit: int) -> list[int]:
    return list(range(after + 1, min(after + limit, HISTORY) + 1))


def _ring() -> int:
    return 0


async def _read_all(feed: Feed[int], after: int, until: int) -> list[int]:
    seen: list[int] = []
    while after < until:
        rows = await feed.after(after, 0, _ring)
        assert rows, f"nothing after {after}"
        seen.extend(rows)
        after = rows[-1]
    return seen


async def test_a_lagging_reader_misses_nothing_when_the_window_moves() -> None:
    feed: Feed[int] = Feed(_fetch, lambda row: row)
    # A first reader pulls the window well ahead (past FEED_KEEPS rows).
    assert await _read_all(feed, 0, 3 * BATCH) == list(range(1, 3 * BATCH + 1))
    assert feed.base is not None and feed.base > 0
    # A second reader starts inside the window but behind its end: its reads extend the window
    # and trim it past the second reader's cursor.
    start = feed.base + 6
    assert start < feed.last
    seen = await _read_all(feed, start, start + FEED_KEEPS + 3 * BATCH)
    assert seen == list(range(start + 1, start + len(seen) + 1))


async def test_replays_one_after_another_each_get_every_row() -> None:
    feed: Feed[int] = Feed(_fetch, lambda row: row)
    for k in range(6):
        after = 1_000 - k
        seen = await _read_all(feed, after, after + 1_000)
        assert seen[:1_000] == list(range(after + 1, after + 1_001)), f"replay {k}"
