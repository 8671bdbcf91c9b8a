"""A PostgreSQL database with a marketplace's history, written straight into the migrated schema
with COPY (asyncpg `copy_records_to_table`), in minutes.

The rows are the ones the domain writes (milestones/domain/events.py `record`): every contract
has one milestone, and its log is CONTRACT_CREATED, MILESTONE_ADDED, then MILESTONE_EDITED, all
by the client, each with the freelancer's notification. Sequences are dense: an event's `seq`
is 1..n per contract with `contracts.event_seq` = n, a notification's `seq` 1..n per recipient
with `users.notification_seq` = n, and time runs forward with both (events are emitted round by
round across the contracts, so a recipient's notifications are in time order too). The ids of
every table are left where the rows end, so the API goes on from there.

Who is who (`Layout`): the client (`bench-client`, the benchmark's CLIENT) holds
`client_contracts` contracts, one of which has the long log (`big_log` events) with the
freelancer (`bench-freelancer`, FREELANCER), who also follows enough other contracts to hold
`freelancer_notifications` notifications, all read but a handful; the rest of the contracts
and events are spread over background users.

Columns are named explicitly: a column added later with a database default is left to it, and
a NOT NULL column without one (Tortoise keeps defaults in Python) is filled from the model's
default; one with neither stops the seed with its name.
"""

from __future__ import annotations

import datetime as dt
import enum
import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import asyncpg
from tortoise.models import Model

from bench.api import CLIENT, FREELANCER
from milestones.domain.events import notification_message
from milestones.models import Contract, ContractEvent, Milestone, Notification, User
from milestones.models.enums import EventKind

COPY_CHUNK = 25_000
# Each of the client's other contracts has this many events.
CLIENT_EVENTS_PER_CONTRACT = 4
FREELANCER_UNREAD = 5
# Background users' notifications are read except for the last few days'.
UNREAD_DAYS = 3
HISTORY_DAYS = 365


@dataclass(frozen=True)
class Scale:
    contracts: int
    events: int  # = notifications: each event notifies the other party
    users: int  # background users (besides the client and the freelancer)
    freelancer_notifications: int
    big_log: int
    client_contracts: int
    # The freelancer's feed besides the long log: contracts with other clients, this many
    # events each.
    feed_events_per_contract: int = 100

    @property
    def notifications(self) -> int:
        return self.events


# What the issue asks for: 100,000 contracts, 1,000,000 events and notifications, one user with
# 100,000 notifications, one contract with 10,000 events, one user with 5,000 contracts.
FULL = Scale(
    contracts=100_000,
    events=1_000_000,
    users=20_000,
    freelancer_notifications=100_000,
    big_log=10_000,
    client_contracts=5_000,
)
QUICK = Scale(
    contracts=10_000,
    events=100_000,
    users=2_000,
    freelancer_notifications=12_000,
    big_log=2_000,
    client_contracts=1_000,
)
# The almost empty database: the same people and pages, each just long enough for the queries
# (a page of 20 contracts, a replay of 1,000 notifications, a page of 100 events deep in), and
# each page of the same shape as on the seeded one. Events go out round by round (a contract's
# n-th event in round n): the freelancer's 20 feed contracts (190 events each, clients drawn
# from 1,000 people) interleave with the long log for 190 rounds, then the long log goes on
# alone for 1,250 more. So, as on the seeded database:
# - the 20 oldest notifications are from 20 contracts with 20 clients (3 feed contracts and
#   10 people made that page 4 contracts and 3 clients, against 20 and 20 seeded);
# - the 5 unread (spread from the oldest to the newest) are from 5 contracts;
# - the replayed 1,000 (up to 1,199 back) are all of the long log (they were of 4 contracts);
# - the client's 20 newest contracts have 20 freelancers (8 before, of 10 people).
EMPTY = Scale(
    contracts=55,
    events=5_366,
    users=1_000,
    freelancer_notifications=5_240,
    big_log=1_440,
    client_contracts=25,
    feed_events_per_contract=190,
)


@dataclass
class Plan:
    """Contracts as (client, freelancer, events), in id order (1-based ids)."""

    clients: list[int] = field(default_factory=list)
    freelancers: list[int] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    big_contract: int = 0  # its id


CLIENT_ID = 1
FREELANCER_ID = 2


def plan_contracts(scale: Scale, rng: random.Random) -> Plan:
    feed_events = scale.freelancer_notifications - scale.big_log
    per_contract = scale.feed_events_per_contract
    feed_contracts = -(-feed_events // per_contract)
    client_others = scale.client_contracts - 1
    background = scale.contracts - 1 - feed_contracts - client_others
    background_events = (
        scale.events - scale.big_log - feed_events - client_others * CLIENT_EVENTS_PER_CONTRACT
    )
    if background < 1 or background_events < 2 * background or scale.users < 2:
        raise ValueError(f"scale does not add up: {scale}")
    users = range(FREELANCER_ID + 1, FREELANCER_ID + 1 + scale.users)

    def someone() -> int:
        return rng.choice(users)

    contracts: list[tuple[int, int, int]] = [(CLIENT_ID, FREELANCER_ID, scale.big_log)]
    for index in range(feed_contracts):
        size = min(per_contract, feed_events - index * per_contract)
        contracts.append((someone(), FREELANCER_ID, max(size, 2)))
    contracts.extend(
        (CLIENT_ID, someone(), CLIENT_EVENTS_PER_CONTRACT) for _ in range(client_others)
    )
    each, extra = divmod(background_events, background)
    for index in range(background):
        client = someone()
        freelancer = someone()
        while freelancer == client:
            freelancer = someone()
        contracts.append((client, freelancer, each + (1 if index < extra else 0)))
    # Scattered over the ids, as a marketplace's history would have them.
    big = contracts[0]
    rng.shuffle(contracts)
    plan = Plan()
    for client, freelancer, size in contracts:
        plan.clients.append(client)
        plan.freelancers.append(freelancer)
        plan.sizes.append(size)
    plan.big_contract = contracts.index(big) + 1
    return plan


# --- columns: explicit lists, and whatever NOT NULL columns came later -----------------------


def _python_default(model: type[Model], column: str) -> Callable[[], Any] | None:
    for name, field_object in model._meta.fields_map.items():
        if (getattr(field_object, "source_field", None) or name) != column:
            continue
        default = field_object.default
        if default is None:
            return None
        if callable(default):
            return lambda: _plain(default())
        return lambda: _plain(default)
    return None


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, enum.Enum) else value


async def _extra_columns(
    connection: asyncpg.Connection, table: str, columns: Sequence[str], model: type[Model]
) -> list[tuple[str, Callable[[], Any]]]:
    """NOT NULL columns without a database default that the seed does not name."""
    rows = await connection.fetch(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' "
        "AND table_name = $1 AND is_nullable = 'NO' AND column_default IS NULL",
        table,
    )
    extra = []
    for row in rows:
        column = row["column_name"]
        if column in columns:
            continue
        default = _python_default(model, column)
        if default is None:
            raise RuntimeError(
                f"{table}.{column} is NOT NULL with no default: bench/growth_seed.py must set it"
            )
        extra.append((column, default))
    return extra


async def copy(
    connection: asyncpg.Connection,
    table: str,
    model: type[Model],
    columns: Sequence[str],
    records: Iterable[tuple[Any, ...]],
) -> None:
    extra = await _extra_columns(connection, table, columns, model)
    if extra:
        values = tuple(default() for _, default in extra)
        records = (record + values for record in records)
    await connection.copy_records_to_table(
        table, records=records, columns=[*columns, *(name for name, _ in extra)]
    )


# --- the rows ----------------------------------------------------------------------------------

USER_COLUMNS = ("id", "sub", "name", "email", "notification_seq", "created_at", "updated_at")
CONTRACT_COLUMNS = (
    "id",
    "title",
    "currency",
    "status",
    "client_id",
    "freelancer_id",
    "event_seq",
    "created_at",
)
MILESTONE_COLUMNS = (
    "id",
    "contract_id",
    "position",
    "title",
    "due_date",
    "amount",
    "status",
    "version",
    "created_at",
    "updated_at",
)
EVENT_COLUMNS = ("id", "contract_id", "seq", "kind", "actor_id", "milestone_id", "occurred_at")
NOTIFICATION_COLUMNS = (
    "id",
    "recipient_id",
    "seq",
    "event_id",
    "kind",
    "contract_id",
    "actor_id",
    "message",
    "created_at",
    "read_at",
)


@dataclass(frozen=True)
class Seeded:
    """What the benchmark needs to find in the seeded database."""

    scale: Scale
    big_contract: int
    big_milestone: int  # the long log's contract has one milestone: same id
    freelancer_notifications: int
    seconds: float


def _name(user_id: int) -> str:
    if user_id == CLIENT_ID:
        return CLIENT.name
    if user_id == FREELANCER_ID:
        return FREELANCER.name
    return f"User {user_id}"


def _messages(title: str, client: int) -> dict[EventKind, str]:
    actor = SimpleNamespace(name=_name(client), email=None, sub="")
    contract = SimpleNamespace(title=title, currency="USD")
    milestone = SimpleNamespace(title="Milestone 1")
    return {
        kind: notification_message(kind, actor, contract, milestone)  # type: ignore[arg-type]
        for kind in (
            EventKind.CONTRACT_CREATED,
            EventKind.MILESTONE_ADDED,
            EventKind.MILESTONE_EDITED,
        )
    }


def _kind(seq: int) -> EventKind:
    if seq == 1:
        return EventKind.CONTRACT_CREATED
    if seq == 2:
        return EventKind.MILESTONE_ADDED
    return EventKind.MILESTONE_EDITED


def _title(contract_id: int) -> str:
    return f"Contract {contract_id}"


async def seed(dsn: str, scale: Scale, *, seed_value: int = 16) -> Seeded:
    """Fill a freshly migrated database (asyncpg DSN) at `scale`."""
    started = time.monotonic()
    rng = random.Random(seed_value)
    plan = plan_contracts(scale, rng)
    count = len(plan.sizes)
    end = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    start = end - dt.timedelta(days=HISTORY_DAYS)
    step = (end - start) / scale.events
    unread_after = end - dt.timedelta(days=UNREAD_DAYS)
    freelancer_total = sum(
        size
        for size, freelancer in zip(plan.sizes, plan.freelancers, strict=True)
        if freelancer == 2
    )
    # A handful unread, spread from the oldest to the newest (the unread filter must not walk).
    freelancer_unread = {
        1 + (freelancer_total - 1) * k // (FREELANCER_UNREAD - 1) for k in range(FREELANCER_UNREAD)
    }

    connection = await asyncpg.connect(dsn)
    try:
        await _seed_rows(
            connection, scale, plan, start, step, unread_after, freelancer_unread, count
        )
        for table in ("users", "contracts", "milestones", "contract_events", "notifications"):
            await connection.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            )
        await connection.execute("VACUUM ANALYZE")
    finally:
        await connection.close()
    return Seeded(
        scale=scale,
        big_contract=plan.big_contract,
        big_milestone=plan.big_contract,
        freelancer_notifications=freelancer_total,
        seconds=time.monotonic() - started,
    )


async def _seed_rows(
    connection: asyncpg.Connection,
    scale: Scale,
    plan: Plan,
    start: dt.datetime,
    step: dt.timedelta,
    unread_after: dt.datetime,
    freelancer_unread: set[int],
    count: int,
) -> None:
    user_ids = range(1, FREELANCER_ID + 1 + scale.users)
    notification_seq = [0] * (len(user_ids) + 1)
    event_seq = [0] * (count + 1)
    messages: list[dict[EventKind, str]] = [{}] + [
        _messages(_title(cid), plan.clients[cid - 1]) for cid in range(1, count + 1)
    ]

    def emission() -> Iterator[int]:
        """Contract ids, one per event, round by round (a contract's n-th event in round n)."""
        active = list(range(1, count + 1))
        round_number = 0
        while active:
            yield from active
            round_number += 1
            active = [cid for cid in active if plan.sizes[cid - 1] > round_number]

    def rows() -> Iterator[tuple[tuple[Any, ...], tuple[Any, ...]]]:
        for index, cid in enumerate(emission()):
            at = start + step * index
            seq = event_seq[cid] = event_seq[cid] + 1
            client, freelancer = plan.clients[cid - 1], plan.freelancers[cid - 1]
            kind = _kind(seq)
            event_id = index + 1
            event = (event_id, cid, seq, kind.value, client, cid if seq > 1 else None, at)
            nseq = notification_seq[freelancer] = notification_seq[freelancer] + 1
            unread = nseq in freelancer_unread if freelancer == FREELANCER_ID else at > unread_after
            notification = (
                event_id,
                freelancer,
                nseq,
                event_id,
                kind.value,
                cid,
                client,
                messages[cid][kind],
                at,
                None if unread else at + dt.timedelta(hours=1),
            )
            yield event, notification

    # The sequences are known before any row is written: the users and contracts go first
    # (the events point at them), with their final counters.
    for cid, size in enumerate(plan.sizes, start=1):
        notification_seq[plan.freelancers[cid - 1]] += size
    final_notification_seq = list(notification_seq)
    notification_seq = [0] * len(notification_seq)
    await copy(
        connection,
        "users",
        User,
        USER_COLUMNS,
        (
            (
                uid,
                CLIENT.sub if uid == CLIENT_ID else FREELANCER.sub if uid == 2 else f"user-{uid}",
                _name(uid),
                None if uid <= FREELANCER_ID else f"user{uid}@example.com",
                final_notification_seq[uid],
                start,
                start,
            )
            for uid in user_ids
        ),
    )
    # A contract is created at its first event: round 0 runs through the ids in order.
    created = {cid: start + step * (cid - 1) for cid in range(1, count + 1)}
    await copy(
        connection,
        "contracts",
        Contract,
        CONTRACT_COLUMNS,
        (
            (
                cid,
                _title(cid),
                "USD",
                "ACTIVE",
                plan.clients[cid - 1],
                plan.freelancers[cid - 1],
                plan.sizes[cid - 1],
                created[cid],
            )
            for cid in range(1, count + 1)
        ),
    )
    await copy(
        connection,
        "milestones",
        Milestone,
        MILESTONE_COLUMNS,
        (
            (
                cid,
                cid,
                1,
                "Milestone 1",
                dt.date(2027, 1, 4),
                50_000,
                "UPCOMING",
                # Added at seq 2, edited at every later one.
                max(1, plan.sizes[cid - 1] - 1),
                created[cid],
                created[cid],
            )
            for cid in range(1, count + 1)
        ),
    )
    pairs = rows()
    while True:
        chunk = [pair for _, pair in zip(range(COPY_CHUNK), pairs, strict=False)]
        if not chunk:
            break
        await copy(
            connection, "contract_events", ContractEvent, EVENT_COLUMNS, (e for e, _ in chunk)
        )
        await copy(
            connection, "notifications", Notification, NOTIFICATION_COLUMNS, (n for _, n in chunk)
        )
    if notification_seq != final_notification_seq:
        raise AssertionError("notification sequences do not add up")
