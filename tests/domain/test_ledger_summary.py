"""The summary an action reads with its object (`escrow.summary_of`): one row per milestone and
kind, with whether the milestone is funded."""

from __future__ import annotations

import json

from milestones.domain.escrow import summary_of


def test_a_funded_milestone_with_several_kinds_of_rows_is_counted_once() -> None:
    # 100 deposited and allocated to milestone 1, 40 of it released: 60 still in it.
    column = json.dumps([[None, "DEPOSIT", 100, 0], [1, "ALLOCATE", 100, 1], [1, "RELEASE", 40, 1]])
    summary = summary_of(column, [])
    assert summary.of(1).in_escrow == 60
    assert summary.escrow.held == 60
    assert summary.escrow.available == 0
    assert summary.covers(1) and not summary.covers(2)


def test_an_empty_ledger_reads_as_nothing_held() -> None:
    for column in (None, "[]"):
        summary = summary_of(column, [7])
        assert summary.escrow.held == 0 and summary.escrow.available == 0
        assert summary.covers(7)
