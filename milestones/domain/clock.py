"""The time every rule reads: the wall clock, moved forward in tests (never days of sleep)."""

from __future__ import annotations

import datetime as dt

_offset = dt.timedelta(0)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC) + _offset


def advance(by: dt.timedelta) -> None:
    """Tests only: every later `now()` is `by` further on (in this process)."""
    global _offset
    _offset += by


def reset() -> None:
    global _offset
    _offset = dt.timedelta(0)
