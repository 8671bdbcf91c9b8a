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


async def test_sockets_resuming_a_few_rows_behind_share_the_window() -> None:
    """A reconnect storm: a thousand subscribers resume, in no particular order, with cursors
    up to 50 rows behind the newest. The feed reaches back once per new oldest cursor, not once
    per subscriber, and each gets exactly the rows after its cursor."""
    newest = 500
    reads: list[tuple[int, int]] = []

    async def fetch(after: int, limit: int) -> list[int]:
        reads.append((after, limit))
        return list(range(after + 1, min(after + limit, newest) + 1))

    feed: Feed[int] = Feed(fetch, lambda row: row)
    cursors = [newest - 1 - (k * 37 % 50) for k in range(1_000)]
    for cursor in cursors:
        assert await feed.after(cursor, 0, _ring) == list(range(cursor + 1, newest + 1))
    new_oldest = sum(1 for k, c in enumerate(cursors) if c < min(cursors[:k], default=newest))
    assert len(reads) <= 1 + new_oldest <= 51
    assert len(feed.items) <= FEED_KEEPS


async def test_a_reader_further_back_than_the_window_holds_reads_alone() -> None:
    reads: list[tuple[int, int]] = []

    async def fetch(after: int, limit: int) -> list[int]:
        reads.append((after, limit))
        return list(range(after + 1, min(after + limit, HISTORY) + 1))

    feed: Feed[int] = Feed(fetch, lambda row: row)
    assert await _read_all(feed, HISTORY - 10, HISTORY) == list(range(HISTORY - 9, HISTORY + 1))
    base = feed.base
    far = HISTORY - 10 - FEED_KEEPS
    assert await feed.after(far, 0, _ring) == list(range(far + 1, far + BATCH + 1))
    assert feed.base == base  # the window did not grow past what it keeps
    assert await _read_all(feed, far, HISTORY) == list(range(far + 1, HISTORY + 1))
