"""The summary an action reads with its object (`escrow.held_summary_of`): the contract's
running sums, and one row per milestone and kind of the funded milestone and the one acted on,
with whether the milestone is funded."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any, cast

from milestones.domain.escrow import held_summary_of
from milestones.models import Contract


def _contract(**sums: int) -> Contract:
    totals: dict[str, Any] = {"deposited": 0, "released": 0, "refunded": 0, "bonus": 0, **sums}
    return cast(Contract, SimpleNamespace(**{f"ledger_{k}": v for k, v in totals.items()}))


def test_a_funded_milestone_with_several_kinds_of_rows_is_counted_once() -> None:
    # 100 deposited and allocated to milestone 1, 40 of it released: 60 still in it.
    column = json.dumps([[1, "ALLOCATE", 100, 1], [1, "RELEASE", 40, 1]])
    summary = held_summary_of(_contract(deposited=100, released=40), column, [])
    assert summary.of(1).in_escrow == 60
    assert summary.escrow.held == 60
    assert summary.escrow.available == 0
    assert summary.covers(1) and not summary.covers(2)
    assert summary.funded == frozenset({1})


def test_the_totals_are_the_running_sums_not_the_rows() -> None:
    """Money of milestones the rows leave out (a partial release's rest) is in the totals."""
    column = json.dumps([[2, "ALLOCATE", 30, 1]])
    contract = _contract(deposited=200, released=90, refunded=10, bonus=5)
    summary = held_summary_of(contract, column, [2])
    assert (summary.escrow.funded, summary.escrow.released) == (205, 95)
    assert summary.escrow.held == 100
    assert summary.escrow.available == 70  # 100 held, 30 of it in milestone 2
    assert summary.escrow.bonus == 5


def test_an_empty_ledger_reads_as_nothing_held() -> None:
    for column in (None, "[]"):
        summary = held_summary_of(_contract(), column, [7])
        assert summary.escrow.held == 0 and summary.escrow.available == 0
        assert summary.covers(7)
        assert summary.funded == frozenset()
