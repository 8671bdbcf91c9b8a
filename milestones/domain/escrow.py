"""Escrow: every figure is a sum over the append-only ledger, and money is conserved here."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient

from milestones.models import Contract, LedgerEntry, Milestone
from milestones.models.enums import FUNDED_STATUSES, LedgerKind


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

    def of(self, milestone_id: int) -> MilestoneMoney:
        return self.by_milestone.get(milestone_id, MilestoneMoney())


LedgerRow = tuple[int | None, str, int]  # (milestone id, kind, sum of amounts)


def summarize(rows: Iterable[LedgerRow], funded_milestone_ids: Iterable[int]) -> LedgerSummary:
    totals: dict[str, int] = defaultdict(int)
    per_milestone: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for milestone_id, kind, amount in rows:
        totals[kind] += amount
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
    bonus = totals[LedgerKind.BONUS]
    funded = totals[LedgerKind.DEPOSIT] + bonus
    released = totals[LedgerKind.RELEASE] + bonus
    refunded = totals[LedgerKind.REFUND]
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
    return LedgerSummary(escrow=escrow, by_milestone=by_milestone)


# Raw statements: Tortoise's grouped `values_list` converts every row field by field (an enum
# per row), which made reading a long ledger the costliest part of a mutation's payload.
_LEDGER_ROWS_SQL = (
    "SELECT contract_id, milestone_id, kind, SUM(amount) AS total FROM ledger_entries"
    " WHERE contract_id IN ({contracts}) GROUP BY contract_id, milestone_id, kind"
)
# Sums by kind over the whole contract, split by milestone only for the milestones asked
# about: an action's summary costs the same in a contract of 5 milestones as in one of 500.
_FOCUSED_ROWS_SQL = (
    "SELECT {milestone} AS milestone_id, kind, SUM(amount) AS total FROM ledger_entries"
    " WHERE contract_id = {contract} GROUP BY 1, 2"
)


def _marks(connection: BaseDBAsyncClient, count: int) -> list[str]:
    """`count` parameter placeholders in the connection's dialect, in order."""
    if connection.capabilities.dialect == "postgres":
        return [f"${n}" for n in range(1, count + 1)]
    return ["?"] * count


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


async def _focused_rows(contract_id: int, milestone_ids: set[int]) -> list[LedgerRow]:
    connection = connections.get("default")  # the action's transaction
    # Parameters in the order they appear: the milestones, then the contract.
    marks = _marks(connection, len(milestone_ids) + 1)
    milestone = (
        f"CASE WHEN milestone_id IN ({', '.join(marks[:-1])}) THEN milestone_id END"
        if milestone_ids
        else "NULL"
    )
    sql = _FOCUSED_ROWS_SQL.format(milestone=milestone, contract=marks[-1])
    rows = await connection.execute_query_dict(sql, [*sorted(milestone_ids), contract_id])
    return [_row(row) for row in rows]


async def ledger_summary(
    contract: Contract, *, about: Iterable[int] | None = None
) -> LedgerSummary:
    """The contract's escrow, with the money of each funded milestone and of the milestones
    `about` (by id); of every milestone when `about` is None."""
    funded = [
        milestone.id
        for milestone in await Milestone.filter(
            contract_id=contract.id, status__in=FUNDED_STATUSES, deleted_at=None
        ).only("id")
    ]
    if about is None:
        rows = (await ledger_rows([contract.id])).get(contract.id, [])
    else:
        rows = await _focused_rows(contract.id, {*funded, *about})
    return summarize(rows, funded)


class MoneyNotConserved(RuntimeError):
    """A bug, never a user error: the action is rolled back."""


def check_conserved(summary: LedgerSummary) -> None:
    escrow = summary.escrow
    if escrow.available < 0 or min(escrow.funded, escrow.released, escrow.refunded) < 0:
        raise MoneyNotConserved(f"escrow out of balance: {escrow}")
    for milestone_id, money in summary.by_milestone.items():
        if money.in_escrow < 0:
            raise MoneyNotConserved(f"milestone {milestone_id} out of balance: {money}")


async def _append(
    contract: Contract, kind: LedgerKind, amount: int, milestone_id: int | None
) -> None:
    if amount > 0:
        await LedgerEntry.create(
            contract_id=contract.id, milestone_id=milestone_id, kind=kind, amount=amount
        )


async def fund_milestone(contract: Contract, milestone: Milestone) -> int:
    """Allocate the milestone's amount, taking the available balance first.

    Returns what the client deposits: the difference only."""
    before = await ledger_summary(contract, about=())
    deposit: int = max(0, milestone.amount - before.escrow.available)
    await _append(contract, LedgerKind.DEPOSIT, deposit, None)
    await _append(contract, LedgerKind.ALLOCATE, milestone.amount, milestone.id)
    return deposit


async def release_to_freelancer(contract: Contract, milestone: Milestone, amount: int) -> None:
    await _append(contract, LedgerKind.RELEASE, amount, milestone.id)


async def pay_bonus(contract: Contract, amount: int, milestone: Milestone | None = None) -> None:
    """Deposit and release `amount` at once: one row, so escrow never holds a bonus."""
    await _append(contract, LedgerKind.BONUS, amount, milestone.id if milestone else None)


async def refund_milestone(contract: Contract, milestone: Milestone) -> int:
    """Give the client back what the milestone still holds."""
    held = (await ledger_summary(contract, about=[milestone.id])).of(milestone.id).in_escrow
    await _append(contract, LedgerKind.REFUND, held, milestone.id)
    return held


async def append_release(contract: Contract, amount: int, milestone_id: int | None) -> None:
    """Pay the freelancer `amount` of a milestone's funds (None: of `available`)."""
    await _append(contract, LedgerKind.RELEASE, amount, milestone_id)


async def append_refund(contract: Contract, amount: int, milestone_id: int | None) -> None:
    """Give the client back `amount` of a milestone's funds (None: of `available`)."""
    await _append(contract, LedgerKind.REFUND, amount, milestone_id)


async def refund_available(contract: Contract) -> int:
    available = (await ledger_summary(contract, about=())).escrow.available
    await _append(contract, LedgerKind.REFUND, available, None)
    return available


async def assert_conserved(contract: Contract, milestone: Milestone | None = None) -> None:
    """After an action: the totals, every funded milestone and the one it acted on. The
    ledger is append-only and an action writes only for its milestone, so no other
    milestone's money can have changed (`milestones check-invariants` checks them all)."""
    about = [] if milestone is None else [milestone.id]
    check_conserved(await ledger_summary(contract, about=about))
