"""Idempotency keys: the same user repeating a keyed mutation gets the first result again.

A key lives `IDEMPOTENCY_TTL` (24 h at least): past it, its record counts as gone (and is
deleted on the spot, before the background pruning gets to it), so the key can be used again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from milestones.domain.errors import ErrorCode, refuse
from milestones.models import IdempotencyRecord, User

_ttl = dt.timedelta(hours=24)


def set_ttl(ttl: dt.timedelta) -> None:
    """How long a key is remembered (from IDEMPOTENCY_TTL, set at start-up)."""
    global _ttl
    _ttl = ttl


def request_hash(request: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(request, option=orjson.OPT_SORT_KEYS)).hexdigest()


async def replay(
    user: User, operation: str, key: str | None, request: dict[str, Any]
) -> dict[str, Any] | None:
    """The remembered result for this key, or None; IDEMPOTENCY_CONFLICT on other input."""
    if not isinstance(key, str) or not key:
        return None
    record = await IdempotencyRecord.get_or_none(user_id=user.id, operation=operation, key=key)
    if record is None:
        return None
    if record.created_at < dt.datetime.now(dt.UTC) - _ttl:
        await IdempotencyRecord.filter(id=record.id).delete()  # expired: the key is free again
        return None
    if record.request_hash != request_hash(request):
        raise refuse(
            ErrorCode.IDEMPOTENCY_CONFLICT,
            "This idempotency key was already used with different input.",
            "idempotencyKey",
        )
    result: dict[str, Any] = record.result
    return result


async def remember(
    user: User,
    operation: str,
    key: str | None,
    request: dict[str, Any],
    result: Callable[[], Awaitable[dict[str, Any]]],
) -> None:
    """Keep `result()` for this key; without a key there is nothing to keep (or compute)."""
    if key is None:
        return
    await IdempotencyRecord.create(
        user_id=user.id,
        operation=operation,
        key=key,
        request_hash=request_hash(request),
        result=await result(),
    )
