"""Writes an action hands to its next event (`Action.carried`): on PostgreSQL the event's
statement sends them, one round trip fewer; they are never lost. Merging, numbering, the
rollback of an action that carried writes and recorded nothing, and SQLite sending them at
once. That activating and approving write their money this way is covered by every money
test on PostgreSQL (the conservation check reads the ledger back after the event)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from tortoise import connections

from milestones import ids
from milestones.domain import escrow
from milestones.domain.bulk import Increment, Insert, Update, merged, write_clauses
from milestones.domain.transaction import CarriedWriteLost, action
from milestones.models import Contract, LedgerEntry
from milestones.models.enums import LedgerKind
from tests.helpers import Actor, create_contract_with_milestones


def test_updates_of_the_same_row_become_one() -> None:
    seq = Update("contracts", {"event_seq": 4}, {"id": 1})
    money = Update("contracts", {"ledger_deposited": Increment(500)}, {"id": 1})
    other = Update("milestones", {"status": "ACTIVE"}, {"id": 7})
    elsewhere = Update("contracts", {"event_seq": 2}, {"id": 2})
    assert merged([seq, other, money, elsewhere]) == [
        Update("contracts", {"event_seq": 4, "ledger_deposited": Increment(500)}, {"id": 1}),
        other,
        elsewhere,
    ]


def test_a_column_set_twice_in_one_statement_is_refused() -> None:
    with pytest.raises(ValueError, match=r"contracts\.event_seq set twice"):
        merged(
            [
                Update("contracts", {"event_seq": 4}, {"id": 1}),
                Update("contracts", {"event_seq": 5}, {"id": 1}),
            ]
        )


async def test_clauses_number_their_parameters_in_order(client: Actor) -> None:
    """(`client`: the app, and so the models, set up.)"""
    writes: list[Update | Insert] = [
        Update("contracts", {"event_seq": 4}, {"id": 1}),
        Insert(
            LedgerEntry,
            {"contract_id": 1, "created_at": dt.datetime(2026, 12, 7, tzinfo=dt.UTC)},
            [
                {"kind": LedgerKind.DEPOSIT, "amount": 300, "milestone_id": None},
                {"kind": LedgerKind.ALLOCATE, "amount": 500, "milestone_id": 7},
            ],
        ),
        Update("contracts", {"ledger_deposited": Increment(300)}, {"id": 1}),
    ]
    sql, values = write_clauses(writes)
    marks = [int(n) for n in re.findall(r"\$(\d+)", sql)]
    assert marks == list(range(1, len(values) + 1))
    assert sql.startswith(
        'also0 AS (UPDATE "contracts" SET "event_seq" = $1, '
        '"ledger_deposited" = "ledger_deposited" + $2 WHERE "id" = $3), '
        'also1 AS (INSERT INTO "ledger_entries" '
    )
    assert values[:3] == [4, 300, 1]
    assert values.count("DEPOSIT") == 1 and 500 in values and 7 in values


async def test_writes_carried_to_no_event_roll_the_action_back(
    client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["5.00"])
    pk = ids.decode(room.contract_id, "Contract")
    postgres = connections.get("default").capabilities.dialect == "postgres"

    async def carry_without_event() -> None:
        async with action() as current:
            contract = await Contract.get(id=pk)
            await escrow.append_entries(contract, [(LedgerKind.DEPOSIT, 700, None)], carry=current)
            # PostgreSQL: handed over, nothing sent yet; SQLite: sent at once.
            assert len(current.carried) == (2 if postgres else 0)

    if postgres:
        with pytest.raises(CarriedWriteLost):
            await carry_without_event()
        assert await LedgerEntry.filter(contract_id=pk).count() == 0
        assert (await Contract.get(id=pk)).ledger_deposited == 0
    else:
        await carry_without_event()
        assert await LedgerEntry.filter(contract_id=pk).count() == 1
        assert (await Contract.get(id=pk)).ledger_deposited == 700
