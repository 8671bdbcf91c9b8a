"""Escrow: every figure is a sum over the append-only ledger, and money is conserved here."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tortoise import connections, timezone
from tortoise.backends.base.client import BaseDBAsyncClient

from milestones.domain.bulk import Increment, Insert, Update, insert_many
from milestones.domain.transaction import Action, carrier, send_or_carry
from milestones.models import Contract, LedgerEntry, Milestone
from milestones.models.enums import FUNDED_STATUSES, LedgerKind, MilestoneStatus


@dataclass(frozen=True, slots=True)
class MilestoneMoney:
    funded: int = 0
    released: int = 0
    refunded: int = 0

    @property
    def in_escrow(self) -> int:
        return self.funded - self.released - self.refunded


@dataclass(frozen=True, slots=True)
class Escrow:
    """Totals in minor units. `held = funded - released - refunded` by construction."""

    funded: int
    released: int
    refunded: int
    available: int
    bonus: int = 0  # part of `funded` and of `released`

    @property
    def held(self) -> int:
        return self.funded - self.released - self.refunded


@dataclass(frozen=True, slots=True)
class LedgerSummary:
    escrow: Escrow
    by_milestone: dict[int, MilestoneMoney] = field(default_factory=dict)
    # The milestones whose money it splits out (a focused summary), or None: every one.
    covered: frozenset[int] | None = None
    # The milestones funded (ACTIVE or SUBMITTED) when it was read: their money is not
    # `available`.
    funded: frozenset[int] = frozenset()

    def of(self, milestone_id: int) -> MilestoneMoney:
        return self.by_milestone.get(milestone_id, MilestoneMoney())

    def covers(self, milestone_id: int) -> bool:
        return self.covered is None or milestone_id in self.covered


LedgerRow = tuple[int | None, str, int]  # (milestone id, kind, sum of amounts)


def summarize(
    rows: Iterable[LedgerRow],
    funded_milestone_ids: Iterable[int],
    about: Iterable[int] | None = None,
    totals: dict[str, int] | None = None,
) -> LedgerSummary:
    """`about`: the rows split out only these milestones and the funded ones (None: all).
    `totals`: the sum of each kind over the whole ledger, when `rows` hold only those
    milestones' entries (the contract's running sums); else summed from `rows`."""
    summing = totals is None
    by_kind: dict[str, int] = defaultdict(int, totals or {})
    per_milestone: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for milestone_id, kind, amount in rows:
        if summing:
            by_kind[kind] += amount
        if milestone_id is not None:
            per_milestone[milestone_id][kind] += amount
    by_milestone = {
        milestone_id: MilestoneMoney(
            funded=sums[LedgerKind.ALLOCATE],
            released=sums[LedgerKind.RELEASE],
            refunded=sums[LedgerKind.REFUND],
        )
        for milestone_id, sums in per_milestone.items()
    }
    bonus = by_kind[LedgerKind.BONUS]
    funded = by_kind[LedgerKind.DEPOSIT] + bonus
    released = by_kind[LedgerKind.RELEASE] + bonus
    refunded = by_kind[LedgerKind.REFUND]
    funded_milestone_ids = list(funded_milestone_ids)
    in_milestones = sum(
        by_milestone[m].in_escrow for m in funded_milestone_ids if m in by_milestone
    )
    escrow = Escrow(
        funded=funded,
        released=released,
        refunded=refunded,
        available=funded - released - refunded - in_milestones,
        bonus=bonus,
    )
    funded_now = frozenset(funded_milestone_ids)
    covered = None if about is None else frozenset([*about, *funded_now])
    return LedgerSummary(
        escrow=escrow, by_milestone=by_milestone, covered=covered, funded=funded_now
    )


# Raw statements: Tortoise's grouped `values_list` converts every row field by field (an enum
# per row), which made reading a long ledger the costliest part of a mutation's payload.
_LEDGER_ROWS_SQL = (
    "SELECT contract_id, milestone_id, kind, SUM(amount) AS total FROM ledger_entries"
    " WHERE contract_id IN ({contracts}) GROUP BY contract_id, milestone_id, kind"
)
_FUNDED_LITERALS = ", ".join(f"'{status.value}'" for status in FUNDED_STATUSES)
# The same sums with, in the same statement, whether each row's milestone is funded now (the
# contract's funded milestones are a subquery run once; a funded milestone always has its
# ALLOCATE row, so every one of them is found). `{milestone}` splits the sums by milestone:
# `milestone_id` for all of them, or, for an action's summary, only for the milestones it asks
# about and the funded ones: that costs the same in a contract of 5 milestones as in one of 500.
_SUMMARY_ROWS_SQL = (
    "SELECT contract_id, {milestone} AS milestone_id, kind, SUM(amount) AS total,"
    " MAX(funded) AS is_funded FROM (SELECT contract_id, milestone_id, kind, amount,"
    " CASE WHEN milestone_id IN (SELECT id FROM milestones WHERE contract_id IN ({contracts})"
    f" AND status IN ({_FUNDED_LITERALS}) AND deleted_at IS NULL) THEN 1 ELSE 0 END AS funded"
    " FROM ledger_entries WHERE contract_id IN ({contracts})) AS entries GROUP BY 1, 2, 3"
)


def _marks(connection: BaseDBAsyncClient, count: int, start: int = 1) -> list[str]:
    """`count` numbered parameter placeholders in the connection's dialect, from `start`."""
    prefix = "$" if connection.capabilities.dialect == "postgres" else "?"
    return [f"{prefix}{n}" for n in range(start, start + count)]


def _row(row: dict[str, Any]) -> LedgerRow:
    return (row["milestone_id"], str(row["kind"]), int(row["total"] or 0))


async def ledger_rows(contract_ids: list[int]) -> dict[int, list[LedgerRow]]:
    """Ledger sums grouped by contract, milestone and kind: one query for many contracts."""
    if not contract_ids:
        return {}
    connection = connections.get("default")
    sql = _LEDGER_ROWS_SQL.format(contracts=", ".join(_marks(connection, len(contract_ids))))
    grouped: dict[int, list[LedgerRow]] = defaultdict(list)
    for row in await connection.execute_query_dict(sql, list(contract_ids)):
        grouped[row["contract_id"]].append(_row(row))
    return grouped


def _focused(asked_sql: str | None) -> str:
    """The `{milestone}` of `_SUMMARY_ROWS_SQL` for an action's summary: split by milestone
    only for the funded milestones and those `asked_sql` matches (SQL: `IN (...)`, `= x`)."""
    asked = f"milestone_id {asked_sql} OR " if asked_sql is not None else ""
    return f"CASE WHEN {asked}funded = 1 THEN milestone_id END"


def _summary(
    found: Iterable[tuple[int | None, Any, Any, Any]],
    about: Iterable[int] | None,
    totals: dict[str, int] | None = None,
) -> LedgerSummary:
    """The summary of `_SUMMARY_ROWS_SQL`'s (or `_HELD_ROWS_SQL`'s, with the contract's
    running sums as `totals`) rows of one contract: (milestone id, kind, total, funded)."""
    rows: list[LedgerRow] = []
    funded: set[int] = set()  # a funded milestone has a row per kind: counted once
    for milestone_id, kind, total, is_funded in found:
        rows.append((milestone_id, str(kind), int(total or 0)))
        if is_funded and milestone_id is not None:
            funded.add(milestone_id)
    return summarize(rows, funded, about, totals)


async def ledger_summaries(
    contract_ids: list[int], about: Iterable[int] | None = None
) -> dict[int, LedgerSummary]:
    """`ledger_summary` of many contracts in one statement, funded milestones included."""
    if not contract_ids:
        return {}
    connection = connections.get("default")  # an action's transaction, when in one
    about = None if about is None else sorted(set(about))
    contracts = _marks(connection, len(contract_ids))
    milestone = "milestone_id"
    if about is not None:
        asked = _marks(connection, len(about), start=len(contract_ids) + 1)
        milestone = _focused(f"IN ({', '.join(asked)})" if asked else None)
    sql = _SUMMARY_ROWS_SQL.format(milestone=milestone, contracts=", ".join(contracts))
    by_contract: dict[int, list[tuple[int | None, Any, Any, Any]]] = defaultdict(list)
    for row in await connection.execute_query_dict(sql, [*contract_ids, *(about or ())]):
        by_contract[row["contract_id"]].append(
            (row["milestone_id"], row["kind"], row["total"], row["is_funded"])
        )
    return {pk: _summary(by_contract.get(pk, []), about) for pk in contract_ids}


# The entries of a contract's funded milestone and of the milestone `{about}` names, summed by
# milestone and kind, with whether each is funded: what an action needs besides the contract's
# running sums. The ledger is reached by its (contract, milestone) index from at most two
# milestones: the same cost at 10 entries as at 100,000.
_HELD_ROWS_SQL = (
    "SELECT milestone_id, kind, SUM(amount) AS total, MAX(funded) AS is_funded FROM"
    " (SELECT l.milestone_id, l.kind, l.amount, CASE WHEN m.status IN ({funded_literals})"
    " AND m.deleted_at IS NULL THEN 1 ELSE 0 END AS funded"
    " FROM milestones m JOIN ledger_entries l"
    " ON l.contract_id = m.contract_id AND l.milestone_id = m.id"
    " WHERE m.contract_id = {contract} AND (m.id = {about} OR (m.status IN ({funded_literals})"
    " AND m.deleted_at IS NULL))) AS entries GROUP BY 1, 2"
)


def held_column(contract_sql: str, postgres: bool, about_sql: str | None) -> str:
    """What `held_summary_of` reads with the contract's running sums, as one JSON column of
    another statement: the money of the funded milestone and of the one `about_sql` names (SQL;
    None: none), `[[milestone id, kind, total, funded], ...]`."""
    rows = _HELD_ROWS_SQL.format(
        funded_literals=_FUNDED_LITERALS,
        contract=contract_sql,
        about=about_sql if about_sql is not None else "NULL",
    )
    if postgres:
        aggregate = "json_agg(json_build_array(milestone_id, kind, total, is_funded))"
    else:
        aggregate = "json_group_array(json_array(milestone_id, kind, total, is_funded))"
    return f"(SELECT {aggregate} FROM ({rows}) AS held_rows)"


def held_summary_of(contract: Contract, column: object, about: Iterable[int]) -> LedgerSummary:
    """The contract's summary, focused on `about` and the funded milestone: its totals from
    the contract's running sums (`contract` read under its lock), the milestones' money from
    `held_column`."""
    found = json.loads(column) if isinstance(column, str | bytes) else []
    totals = {kind.value: int(getattr(contract, name)) for kind, name in TOTAL_COLUMNS.items()}
    return _summary(found, about, totals)


async def ledger_summary(
    contract: Contract, *, about: Iterable[int] | None = None
) -> LedgerSummary:
    """The contract's escrow, with the money of each funded milestone and of the milestones
    `about` (by id); of every milestone when `about` is None. One statement."""
    return (await ledger_summaries([contract.id], about))[contract.id]


class MoneyNotConserved(RuntimeError):
    """A bug, never a user error: the action is rolled back."""


def check_conserved(summary: LedgerSummary) -> None:
    escrow = summary.escrow
    if escrow.available < 0 or min(escrow.funded, escrow.released, escrow.refunded) < 0:
        raise MoneyNotConserved(f"escrow out of balance: {escrow}")
    for milestone_id, money in summary.by_milestone.items():
        if money.in_escrow < 0:
            raise MoneyNotConserved(f"milestone {milestone_id} out of balance: {money}")


Entry = tuple[LedgerKind, int, int | None]  # (kind, amount, milestone id or None)


async def append_entries(
    contract: Contract,
    entries: Iterable[Entry],
    also: Sequence[Update] = (),
    carry: Action | None = None,
) -> None:
    """Append the entries that move money (amount > 0), in one statement, with the updates
    `also` (the same statement on PostgreSQL: what the action changes with its money).

    `carry`: on PostgreSQL, the action whose next event's statement sends all of it
    (`Action.carried`, `events.record`), one round trip fewer; the caller records that event
    next, reading nothing of what it wrote before. On SQLite, sent now as without it."""
    rows = [(kind, amount, milestone_id) for kind, amount, milestone_id in entries if amount > 0]
    if not rows:
        await send_or_carry(also, carry)
        return
    contract.__dict__.pop(_CHECKED, None)  # a summary read before this entry is stale now
    known = contract.__dict__.get(_KNOWN)
    if isinstance(known, _Known):
        known.appended.extend(rows)
    shared = {"contract_id": contract.id, "created_at": timezone.now()}
    inserted = [{"kind": kind, "amount": amount, "milestone_id": pk} for kind, amount, pk in rows]
    updates = [*also, *_totals_update(contract, rows)]
    carried_by = carrier(carry)
    if carried_by is not None:
        carried_by.carried.extend([*updates, Insert(LedgerEntry, shared, inserted)])
        return
    await insert_many(LedgerEntry, shared, inserted, also=updates)


# The contract's running sum of each kind of entry (`Contract.ledger_*`).
TOTAL_COLUMNS = {
    LedgerKind.DEPOSIT: "ledger_deposited",
    LedgerKind.RELEASE: "ledger_released",
    LedgerKind.REFUND: "ledger_refunded",
    LedgerKind.BONUS: "ledger_bonus",
}


def _totals_update(contract: Contract, rows: Iterable[Entry]) -> list[Update]:
    """The contract's running sums grown by `rows`, as an UPDATE that adds to what the row
    holds (and on the instance too); none for allocations alone."""
    grown: dict[str, int] = defaultdict(int)
    for kind, amount, _ in rows:
        column = TOTAL_COLUMNS.get(kind)
        if column is not None:
            grown[column] += amount
    for column, amount in grown.items():
        setattr(contract, column, getattr(contract, column) + amount)
    if not grown:
        return []
    values = {column: Increment(amount) for column, amount in grown.items()}
    return [Update(Contract._meta.db_table, values, {"id": contract.id})]


async def _append(
    contract: Contract, kind: LedgerKind, amount: int, milestone_id: int | None
) -> None:
    await append_entries(contract, [(kind, amount, milestone_id)])


async def fund_milestone(
    contract: Contract,
    milestone: Milestone,
    before: LedgerSummary | None = None,
    also: Sequence[Update] = (),
    carry: Action | None = None,
) -> int:
    """Allocate the milestone's amount, taking the available balance first (`before`: the
    contract's money before, if the action read it already), with the updates `also`
    (`carry`: as `append_entries`).

    Returns what the client deposits: the difference only."""
    before = before or await ledger_summary(contract, about=())
    deposit: int = max(0, milestone.amount - before.escrow.available)
    await append_entries(
        contract,
        [
            (LedgerKind.DEPOSIT, deposit, None),
            (LedgerKind.ALLOCATE, milestone.amount, milestone.id),
        ],
        also,
        carry,
    )
    return deposit


async def release_to_freelancer(
    contract: Contract,
    milestone: Milestone,
    amount: int,
    also: Sequence[Update] = (),
    carry: Action | None = None,
) -> None:
    """Release `amount` of the milestone's money to the freelancer, with the updates `also`
    (`carry`: as `append_entries`)."""
    await append_entries(contract, [(LedgerKind.RELEASE, amount, milestone.id)], also, carry)


async def pay_bonus(contract: Contract, amount: int, milestone: Milestone | None = None) -> None:
    """Deposit and release `amount` at once: one row, so escrow never holds a bonus."""
    await _append(contract, LedgerKind.BONUS, amount, milestone.id if milestone else None)


async def refund_milestone(contract: Contract, milestone: Milestone) -> int:
    """Give the client back what the milestone still holds."""
    held = (await ledger_summary(contract, about=[milestone.id])).of(milestone.id).in_escrow
    await _append(contract, LedgerKind.REFUND, held, milestone.id)
    return held


async def source_of_held(
    contract: Contract, funded: Milestone | None, summary: LedgerSummary | None = None
) -> Milestone | None:
    """The one milestone all the money escrow holds came from, if one did: the funded
    milestone when no `available` money is held beside it, else (nothing funded) the one the
    available balance was left over from. What an ending or a refund of it moves is
    attributed to it on its event. `summary`: the contract's, of every milestone."""
    summary = summary or await ledger_summary(contract)
    if funded is not None and funded.status in FUNDED_STATUSES:
        return funded if summary.escrow.available == 0 else None
    if summary.escrow.available == 0:
        return None
    return await leftover_source(contract, summary)


async def leftover_source(contract: Contract, summary: LedgerSummary) -> Milestone | None:
    """The milestone whose partial release left the whole available balance, if one did.

    What a released milestone did not release stays in its ledger (funded - released); a
    later activation takes the available balance first, oldest leftover first, so what is
    still available is the newest leftovers: it came from one milestone when the newest
    leftover covers all of it."""
    available = summary.escrow.available
    settled = await Milestone.filter(contract_id=contract.id, status=MilestoneStatus.RELEASED)
    # Newest release first (those released before `released_at` existed count as oldest).
    settled.sort(key=lambda m: (m.released_at is not None, m.released_at, m.id), reverse=True)
    for milestone in settled:
        leftover = summary.of(milestone.id).in_escrow
        if leftover > 0:
            return milestone if leftover >= available else None
    return None


_CHECKED = "_milestones_checked_summary"
_KNOWN = "_milestones_known_ledger"

# Tests set this: every summary `assert_conserved` derives is also read from the database and
# compared (a difference is a bug: MoneyNotConserved). Off in production: the derivation is
# what saves the statement.
verify_derived = False


@dataclass(slots=True)
class _Known:
    """The contract's money as its action read it under the lock, and every entry the action
    appended since (`append_entries`)."""

    before: LedgerSummary
    appended: list[Entry] = field(default_factory=list)


def remember_ledger(contract: Contract, summary: LedgerSummary) -> None:
    """`summary` was read under the contract's lock, by the action that holds `contract`
    (the locked row), before it appended anything: `assert_conserved` derives what the
    ledger holds after the action from it and the action's own entries."""
    contract.__dict__[_KNOWN] = _Known(summary)


def _derived(contract: Contract, milestone: Milestone) -> LedgerSummary | None:
    """What the ledger holds now, from the summary read under the lock and the entries
    appended since, when they tell it exactly: the summary covers `milestone`, and every
    entry is `milestone`'s or the contract's own (a deposit, a bonus). Under the lock nobody
    else appends to this contract's ledger; the milestones funded are those funded then, with
    `milestone` as it is now (an action changes the funded state of its own milestone only,
    and a milestone with money in escrow leaves it only through an entry of its own)."""
    known = contract.__dict__.get(_KNOWN)
    if not isinstance(known, _Known) or not known.before.covers(milestone.id):
        return None
    if any(pk is not None and pk != milestone.id for _, _, pk in known.appended):
        return None
    before = known.before
    bonus = before.escrow.bonus
    deposited = before.escrow.funded - bonus
    released = before.escrow.released - bonus
    refunded = before.escrow.refunded
    mine = before.of(milestone.id)
    allocated, released_here, refunded_here = mine.funded, mine.released, mine.refunded
    for kind, amount, _ in known.appended:
        if kind is LedgerKind.DEPOSIT:
            deposited += amount
        elif kind is LedgerKind.BONUS:
            bonus += amount
        elif kind is LedgerKind.ALLOCATE:
            allocated += amount
        elif kind is LedgerKind.RELEASE:
            released += amount
            released_here += amount
        elif kind is LedgerKind.REFUND:
            refunded += amount
            refunded_here += amount
    by_milestone = dict(before.by_milestone)
    by_milestone[milestone.id] = MilestoneMoney(allocated, released_here, refunded_here)
    funded = before.funded - {milestone.id}
    if milestone.status in FUNDED_STATUSES:
        funded |= {milestone.id}
    total_funded, total_released = deposited + bonus, released + bonus
    escrow = Escrow(
        funded=total_funded,
        released=total_released,
        refunded=refunded,
        available=total_funded
        - total_released
        - refunded
        - sum(by_milestone[pk].in_escrow for pk in funded if pk in by_milestone),
        bonus=bonus,
    )
    return LedgerSummary(escrow, by_milestone, before.covered, frozenset(funded))


async def assert_conserved(contract: Contract, milestone: Milestone | None = None) -> None:
    """After an action: the totals, every funded milestone and the one it acted on. The
    ledger is append-only and an action writes only for its milestone, so no other
    milestone's money can have changed (`milestones check-invariants` checks them all). The
    payload shows what was checked (`checked_summary`) where it covers what it shows.

    The summary is derived from the one the action read under its lock and the entries it
    appended (`_derived`) where those tell it exactly; else it is read again."""
    about = [] if milestone is None else [milestone.id]
    summary = _derived(contract, milestone) if milestone is not None else None
    if summary is None:
        summary = await ledger_summary(contract, about=about)
    elif verify_derived:
        await verify_summary(contract, summary, about)
    check_conserved(summary)
    contract.__dict__[_CHECKED] = summary


async def verify_summary(contract: Contract, summary: LedgerSummary, about: list[int]) -> None:
    """Tests (`verify_derived`): a summary derived or read in part from the running sums is
    what summing the whole ledger says."""
    read = await ledger_summary(contract, about=about)
    if _comparable(read) != _comparable(summary):
        raise MoneyNotConserved(f"derived {summary} but the ledger holds {read}")


def _comparable(summary: LedgerSummary) -> tuple[object, ...]:
    """What a summary says about the money (a milestone with no entries holds nothing)."""
    money = {pk: m for pk, m in summary.by_milestone.items() if m != MilestoneMoney()}
    return summary.escrow, money, summary.funded


def checked_summary(contract: Contract) -> LedgerSummary | None:
    """The summary `assert_conserved` read for this contract row, if no entry came after it."""
    summary = contract.__dict__.get(_CHECKED)
    return summary if isinstance(summary, LedgerSummary) else None
