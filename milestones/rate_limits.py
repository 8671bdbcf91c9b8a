"""Rate limits (API.md "Fair use"): budgets per user, or per client address without a token.

Each budget is a GCRA (generic cell rate algorithm, the "leaky bucket as a meter"): one number
per (budget, caller), the theoretical arrival time `tat`. A request costing `n` moves it
`n * period / count` into the future and is admitted while it stays within one `period` of now,
so a caller may burst `count` requests at once and then gets a steady `count` per `period`.
A refusal knows exactly when the caller may come back (`Retry-After`). GCRA rather than a
sliding-window log: one number per caller instead of one entry per request, so memory does not
grow with the limit, and no boundary burst as with fixed windows.

Where the numbers live:
- `BROADCAST_URL` on Redis: in Redis, shared by every instance and worker, updated by one small
  Lua script (atomic, clock read from the Redis server so instances' clocks do not matter; every
  budget a request needs is checked before any is charged). Redis down or slow: this instance
  counts in-process until Redis answers again (the database is the truth; Redis only meters).
- Otherwise in-process (`LocalCounters`), in a table with a byte budget: clients rotating
  addresses push out the entries that say least (expired ones first, then the oldest).

A refused request is decided before anything runs, so it changes nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from milestones.config import RateLimit, Settings

logger = logging.getLogger(__name__)

RATE_LIMITED = "RATE_LIMITED"
# Redis answers within this or the instance meters alone for a while.
REDIS_TIMEOUT_SECONDS = 0.25
REDIS_RETRY_AFTER_SECONDS = 5.0
# Key (20 bytes of digest, as bytes), float, OrderedDict node, and the entry's share of the
# hash table: measured with tracemalloc at ~200 bytes; counted generously.
LOCAL_ENTRY_BYTES = 256


class Budget(StrEnum):
    QUERIES = "queries"
    MUTATIONS = "mutations"
    NOTIFYING = "notifying"
    SUBSCRIPTIONS = "subscriptions"


Charges = Sequence[tuple[Budget, int]]


@dataclass(frozen=True, slots=True)
class Refusal:
    budget: Budget
    retry_after_seconds: float

    @property
    def retry_after(self) -> int:
        """Whole seconds for the `Retry-After` header (at least 1)."""
        return max(1, math.ceil(self.retry_after_seconds))

    @property
    def message(self) -> str:
        return f"Rate limit reached ({self.budget}): retry in {self.retry_after} s."

    @property
    def extensions(self) -> dict[str, Any]:
        return {"code": RATE_LIMITED, "retryAfter": self.retry_after}


def identity(sub: str | None, address: str | None) -> str:
    """Who a budget belongs to: the token's subject, else the client address."""
    return f"sub:{sub}" if sub is not None else f"address:{address or 'unknown'}"


def _digest(budget: Budget, who: str) -> bytes:
    # Fixed-size keys whatever a client sends: the table's byte budget holds.
    return hashlib.blake2b(f"{budget}\0{who}".encode(), digest_size=20).digest()


class LocalCounters:
    """GCRA in process memory, at most `max_bytes` of entries."""

    def __init__(self, max_bytes: int) -> None:
        self.max_entries = max(1, max_bytes // LOCAL_ENTRY_BYTES)
        # digest -> tat (monotonic seconds); ordered by last update, oldest first.
        self._tats: OrderedDict[bytes, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._tats)

    def take(
        self, charges: Sequence[tuple[bytes, RateLimit, int]], now: float
    ) -> tuple[int, float]:
        """Charge every budget, or none: the index of the most refusing one and its wait
        (seconds), or (-1, 0.0) when admitted."""
        news: list[float] = []
        worst, wait = -1, 0.0
        for index, (key, limit, cost) in enumerate(charges):
            tat = max(self._tats.get(key, now), now)
            new = tat + limit.period_seconds / limit.count * min(cost, limit.count)
            overdue = new - limit.period_seconds - now
            if overdue > max(wait, 1e-9):  # not a float's rounding of exactly `count`
                worst, wait = index, overdue
            news.append(new)
        if worst >= 0:
            return worst, wait
        tats = self._tats
        for (key, _, _), new in zip(charges, news, strict=True):
            tats[key] = new
            tats.move_to_end(key)
        if len(tats) > self.max_entries:
            self._evict(now)
        return -1, 0.0

    def _evict(self, now: float) -> None:
        tats = self._tats
        # An entry whose tat has passed says nothing more than no entry.
        while tats and len(tats) > self.max_entries * 0.9:
            key, tat = next(iter(tats.items()))
            if tat > now and len(tats) <= self.max_entries:
                break
            del tats[key]


_GCRA_SCRIPT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local worst, wait = 0, 0
local news = {}
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[3 * i - 2])
  local period = tonumber(ARGV[3 * i - 1])
  local cost = tonumber(ARGV[3 * i])
  local tat = tonumber(redis.call('GET', key) or '0')
  if tat < now then tat = now end
  local new = tat + interval * cost
  local overdue = new - period - now
  if overdue > wait then worst, wait = i, overdue end
  news[i] = new
end
if worst > 0 then return {worst, string.format('%.0f', wait)} end
for i, key in ipairs(KEYS) do
  local ttl = math.ceil((news[i] - now) / 1000) + 1
  redis.call('SET', key, string.format('%.0f', news[i]), 'PX', ttl)
end
return {0, '0'}
"""


class RateLimiter:
    def __init__(
        self,
        limits: Mapping[Budget, RateLimit | None],
        *,
        table_bytes: int = 8 * 1024 * 1024,
        redis_url: str | None = None,
        key_prefix: str = "milestones:rate:",
    ) -> None:
        self.limits = {budget: limit for budget, limit in limits.items() if limit is not None}
        self.local = LocalCounters(table_bytes)
        self.key_prefix = key_prefix
        self._redis: Any = None
        self._script: Any = None
        self._redis_url = redis_url
        self._redis_down_until = 0.0

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimiter:
        url = settings.broadcast_url
        return cls(
            {
                Budget.QUERIES: settings.rate_limit_queries,
                Budget.MUTATIONS: settings.rate_limit_mutations,
                Budget.NOTIFYING: settings.rate_limit_notifying,
                Budget.SUBSCRIPTIONS: settings.rate_limit_subscriptions,
            },
            table_bytes=settings.rate_limit_table_bytes,
            redis_url=url if url.startswith(("redis://", "rediss://")) else None,
            key_prefix=settings.rate_limit_key_prefix,
        )

    @property
    def enabled(self) -> bool:
        return bool(self.limits)

    @property
    def shared(self) -> bool:
        return self._redis_url is not None

    def limits_any(self, budgets: Sequence[Budget]) -> bool:
        return any(budget in self.limits for budget in budgets)

    async def admit(self, who: str, charges: Charges) -> Refusal | None:
        """None when every budget has room (and is charged); else the refusal (none charged)."""
        metered = [(budget, cost) for budget, cost in charges if budget in self.limits and cost]
        if not metered:
            return None
        if self._redis_url is not None and time.monotonic() >= self._redis_down_until:
            try:
                return await self._admit_shared(who, metered)
            except Exception as error:  # metering must not take the service down with Redis
                self._redis_down_until = time.monotonic() + REDIS_RETRY_AFTER_SECONDS
                logger.warning(
                    "rate limits: Redis unreachable (%r); counting in-process for %.0f s",
                    error,
                    REDIS_RETRY_AFTER_SECONDS,
                )
        return self._admit_local(who, metered)

    def _admit_local(self, who: str, metered: Sequence[tuple[Budget, int]]) -> Refusal | None:
        charges = [(_digest(budget, who), self.limits[budget], cost) for budget, cost in metered]
        worst, wait = self.local.take(charges, time.monotonic())
        return None if worst < 0 else Refusal(metered[worst][0], wait)

    async def _admit_shared(
        self, who: str, metered: Sequence[tuple[Budget, int]]
    ) -> Refusal | None:
        if self._redis is None:
            from redis import asyncio as aioredis

            self._redis = aioredis.Redis.from_url(
                self._redis_url,  # type: ignore[arg-type]
                socket_timeout=REDIS_TIMEOUT_SECONDS,
                socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
                client_name="milestones:rate-limits",
            )
            self._script = self._redis.register_script(_GCRA_SCRIPT)
        keys: list[str] = []
        args: list[int] = []
        for budget, cost in metered:
            limit = self.limits[budget]
            period_us = round(limit.period_seconds * 1_000_000)
            keys.append(self.key_prefix + _digest(budget, who).hex())
            args += [period_us // limit.count, period_us, min(cost, limit.count)]
        async with asyncio.timeout(REDIS_TIMEOUT_SECONDS * 2):
            worst, wait = await self._script(keys=keys, args=args)
        if int(worst) == 0:
            return None
        return Refusal(metered[int(worst) - 1][0], int(wait) / 1_000_000)

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None
