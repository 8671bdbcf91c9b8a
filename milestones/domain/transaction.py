"""One action = one transaction that holds the contract's lock; wake-ups go out after commit."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from tortoise import connections
from tortoise.transactions import in_transaction

from milestones.domain.bulk import Insert, Update, run_updates
from milestones.models import Contract, User

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Wakeup:
    """Something new was committed on a channel ("contract:<id>" or "user:<id>") up to `seq`."""

    channel: str
    seq: int


Publisher = Callable[[list[Wakeup]], Awaitable[None]]
_publisher: Publisher | None = None


def set_publisher(publisher: Publisher | None) -> None:
    global _publisher
    _publisher = publisher


@dataclass
class Action:
    """What one action collects while it runs: the wake-ups to publish once committed, and the
    users rows it read as it leaves them (for its payload)."""

    wakeups: list[Wakeup] = field(default_factory=list)
    postgres: bool = False
    users: dict[int, User] = field(default_factory=dict)
    # PostgreSQL: writes handed to the action's next event, whose statement sends them
    # (`escrow.append_entries(..., carry=)`, `events.record`); none may be left at commit.
    carried: list[Update | Insert] = field(default_factory=list)
    # The contracts whose row the action updated (an event's seq, say): see `mark_changed`.
    changed: set[int] = field(default_factory=set)

    def wake(self, channel: str, seq: int) -> None:
        self.wakeups.append(Wakeup(channel, seq))

    async def mark_changed(self, contract: Contract) -> None:
        """The locked contract's row updated, unless the action updated it already: the next
        action to lock it then sees that its statement's snapshot of the room is stale
        (`rules.lock_with_room_state` compares row versions). Every action that holds a
        contract's lock calls it before commit; one that recorded an event costs nothing."""
        if self.postgres and contract.id not in self.changed:
            await run_updates(
                [Update("contracts", {"event_seq": contract.event_seq}, {"id": contract.id})]
            )
            self.changed.add(contract.id)


def carrier(action: Action | None) -> Action | None:
    """`action` where it can hand writes to its next event (PostgreSQL: `Action.carried`);
    None where they are sent at once (no action given, or SQLite)."""
    return action if action is not None and action.postgres else None


async def send_or_carry(updates: Sequence[Update], carry: Action | None) -> None:
    """`updates` handed to `carry`'s next event where it can carry them (`carrier`), else sent
    now, one statement each."""
    carried_by = carrier(carry)
    if carried_by is not None:
        carried_by.carried.extend(updates)
    else:
        await run_updates(updates)


class CarriedWriteLost(RuntimeError):
    """A bug, never a user error: an action handed writes to an event it never recorded.
    Raised before commit, so the action is rolled back whole."""


# SQLite (the single-process embedded default) has no row locks: one action at a time.
_sqlite_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


def _sqlite_lock() -> asyncio.Lock:
    loop = asyncio.get_running_loop()
    lock = _sqlite_locks.get(loop)
    if lock is None:
        lock = _sqlite_locks[loop] = asyncio.Lock()
    return lock


@contextlib.asynccontextmanager
async def action() -> AsyncIterator[Action]:
    postgres = connections.get("default").capabilities.dialect == "postgres"
    current = Action(postgres=postgres)
    lock: contextlib.AbstractAsyncContextManager[object] = (
        contextlib.nullcontext() if postgres else _sqlite_lock()
    )
    async with lock, in_transaction():
        yield current
        if current.carried:
            raise CarriedWriteLost(f"writes never sent: {current.carried}")
    if current.wakeups and _publisher is not None:
        try:
            await _publisher(current.wakeups)
        except Exception:  # the database has it: subscribers catch up on the next wake-up
            logger.exception("publishing wake-ups failed")
