"""Idempotency keys: the same user repeating an action with a key gets the first result again.

One helper for every action. The key is scoped to the user and the action; what must match
is the parsed command (so `"50"` and `"50.00"` are the same input), problems included (so an
invalid repeat of a used key is a conflict, as the contract's order says). A refusal is not
remembered: the record is written only when the action's body completes.

A key lives `IDEMPOTENCY_TTL` (24 h at least): past it, its record counts as gone (and is
deleted on the spot, before the background pruning gets to it), so the key can be used again.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
from tortoise import connections

from milestones.domain.commands import Command
from milestones.domain.errors import ErrorCode, refuse
from milestones.domain.values import Omitted
from milestones.models import IdempotencyRecord, User

_ttl = dt.timedelta(hours=24)


def set_ttl(ttl: dt.timedelta) -> None:
    """How long a key is remembered (from IDEMPOTENCY_TTL, set at start-up)."""
    global _ttl
    _ttl = ttl


# Part of every digest: records written by another shape of command never match.
_DIGEST_VERSION = "command-v2"


def _plain(value: object) -> object:
    if isinstance(value, Omitted):
        return "<omitted>"
    if isinstance(value, io.IOBase | tempfile.SpooledTemporaryFile):
        return "<file>"  # an attachment's bytes: its sha256, next to it, stands for them
    raise TypeError(f"cannot digest {type(value).__name__}")


def command_digest(command: Command) -> str:
    canonical = orjson.dumps(
        [_DIGEST_VERSION, command.operation, command], default=_plain, option=orjson.OPT_SORT_KEYS
    )
    return hashlib.sha256(canonical).hexdigest()


@dataclass(slots=True)
class Keyed:
    """Inside `idempotent`: the first result to replay, or the place to leave this one's."""

    replayed: dict[str, Any] | None
    wanted: bool  # a key was given and this is its first success: keep a result
    result: dict[str, Any] | None = None

    def keep(self, result: dict[str, Any]) -> None:
        self.result = result


@contextlib.asynccontextmanager
async def idempotent(
    viewer: User, command: Command, *, contract_locked: bool
) -> AsyncIterator[Keyed]:
    """Inside an action's transaction. IDEMPOTENCY_CONFLICT when the key was used with another
    command; `replayed` when it was used with this one; otherwise the body runs and what it
    `keep`s is remembered, in the same transaction, if the body completes."""
    key = command.idempotency_key
    if key is None:
        yield Keyed(replayed=None, wanted=False)
        return
    if not contract_locked:  # the contract's lock already serializes repeats on one target
        await _serialize_key(viewer, command.operation, key)
    digest = command_digest(command)
    record = await _record(viewer, command, key)
    if record is not None and record.request_hash != digest:
        raise refuse(
            ErrorCode.IDEMPOTENCY_CONFLICT,
            "This idempotency key was already used with different input.",
            "idempotency_key",
        )
    keyed = Keyed(replayed=record.result if record is not None else None, wanted=record is None)
    yield keyed
    if keyed.wanted:
        assert keyed.result is not None, "a keyed action keeps its result"
        await IdempotencyRecord.create(
            user_id=viewer.id,
            operation=command.operation,
            key=key,
            request_hash=digest,
            result=keyed.result,
        )


async def kept_result(viewer: User, command: Command) -> dict[str, Any] | None:
    """The result kept for this key if it was used with this very command: for an action
    whose object is gone after its first success (a deletion), so that its replay is not
    NOT_FOUND."""
    key = command.idempotency_key
    record = await _record(viewer, command, key) if key is not None else None
    if record is None or record.request_hash != command_digest(command):
        return None
    result: dict[str, Any] = record.result
    return result


async def _record(viewer: User, command: Command, key: str) -> IdempotencyRecord | None:
    record = await IdempotencyRecord.get_or_none(
        user_id=viewer.id, operation=command.operation, key=key
    )
    if record is not None and record.created_at < dt.datetime.now(dt.UTC) - _ttl:
        await IdempotencyRecord.filter(id=record.id).delete()  # expired: the key is free again
        return None
    return record


async def _serialize_key(viewer: User, operation: str, key: str) -> None:
    """Two requests with one key wait for each other (PostgreSQL; SQLite runs one action at a
    time): the second then replays instead of failing on the record's unique index. Taken
    before any row lock, so it cannot deadlock."""
    connection = connections.get("default")
    if connection.capabilities.dialect != "postgres":
        return
    lock = int.from_bytes(
        hashlib.blake2b(f"{viewer.id}:{operation}:{key}".encode(), digest_size=8).digest(),
        "big",
        signed=True,
    )
    await connection.execute_query("SELECT pg_advisory_xact_lock($1)", [lock])
