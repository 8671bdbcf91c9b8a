"""How long each party has before a deadline acts for them, and when they are reminded.

Read from the environment as `<integer><s|m|h|d>` (`REVIEW_WINDOW=14d`); the app sets them
at start (`set_windows`), the domain reads them when it sets a deadline."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Final

# Rung (after commit) by an action that sets a deadline: the scheduler looks at once.
DEADLINES_CHANNEL: Final = "deadlines"

_DURATION: Final = re.compile(r"([0-9]{1,9})([smhd])")
_UNIT_SECONDS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> dt.timedelta:
    """`90s`, `15m`, `24h`, `14d`; ValueError for anything else (zero included)."""
    match = _DURATION.fullmatch(text.strip())
    if match is None or int(match.group(1)) == 0:
        raise ValueError(f"{text!r} is not a duration such as 90s, 15m, 24h or 14d")
    return dt.timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])


@dataclass(frozen=True, slots=True)
class Windows:
    review: dt.timedelta = dt.timedelta(days=14)
    refund_response: dt.timedelta = dt.timedelta(days=7)
    dispute_response: dt.timedelta = dt.timedelta(days=5)
    reminder_before: dt.timedelta = dt.timedelta(days=2)

    def remind_at(self, deadline: dt.datetime, window: dt.timedelta) -> dt.datetime | None:
        """When to remind whoever must act; None when the window is shorter than the lead."""
        return None if window < self.reminder_before else deadline - self.reminder_before


_windows = Windows()


def windows() -> Windows:
    return _windows


def set_windows(value: Windows) -> None:
    global _windows
    _windows = value
