"""The escrow an action checks after moving money is derived, not read again: from the summary
it read under the contract's lock and the entries it appended (`escrow._derived`).

The whole suite runs with `escrow.verify_derived` on (tests/conftest.py): every derived summary
is also read from the database and compared. These tests show that the money-moving actions do
take the derived path, and that a derivation that disagreed with the ledger would be caught
with nothing written.
"""

from __future__ import annotations

from typing import Any

import pytest

from milestones.domain import escrow
from tests.helpers import (
    MUTATIONS,
    Actor,
    assert_escrow_consistent,
    create_contract_with_milestones,
    event_kinds,
    pending_refund_request,
)


@pytest.fixture
def derivations(monkeypatch: pytest.MonkeyPatch) -> list[escrow.LedgerSummary | None]:
    """What each `_derived` call gave (None: it fell back to reading the ledger)."""
    given: list[escrow.LedgerSummary | None] = []
    derive = escrow._derived

    def recording(contract: Any, milestone: Any) -> escrow.LedgerSummary | None:
        summary = derive(contract, milestone)
        given.append(summary)
        return summary

    monkeypatch.setattr(escrow, "_derived", recording)
    return given


async def test_money_moves_are_checked_from_derived_summaries_that_match_the_ledger(
    client: Actor, freelancer: Actor, derivations: list[escrow.LedgerSummary | None]
) -> None:
    assert escrow.verify_derived  # each derivation below is compared with the ledger
    room = await create_contract_with_milestones(
        client, freelancer, ["100.00", "30.00", "80.00", "50.00"]
    )
    await room.activate(0)
    await room.approve(0, release="60.00")  # 40.00 left available
    await room.activate(1)  # paid from the available balance: no deposit
    await room.approve(1, bonusAmount="5.00")
    await room.activate(2)  # takes the last 10.00 available, deposits 70.00
    await room.respond_to_refund(await pending_refund_request(room, 2), "ACCEPT")
    await room.activate(3)
    await room.approve(3, end_contract=True)

    assert len(derivations) >= 9 and None not in derivations
    state = await room.read()
    assert_escrow_consistent(state)
    assert {key: state["escrow"][key] for key in MONEY} == {
        "held": "0.00",
        "available": "0.00",
        "totalFunded": "225.00",  # 100 + 0 + 70 + 50 deposited, and the 5.00 bonus
        "totalReleased": "145.00",
        "totalRefunded": "80.00",
        "totalBonus": "5.00",
    }


MONEY = ("held", "available", "totalFunded", "totalReleased", "totalRefunded", "totalBonus")


async def test_a_derivation_that_disagrees_with_the_ledger_fails_the_action(
    client: Actor, freelancer: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    derive = escrow._derived

    def off_by_a_cent(contract: Any, milestone: Any) -> escrow.LedgerSummary | None:
        summary = derive(contract, milestone)
        assert summary is not None
        money = summary.escrow
        # A cent more than was deposited, and available: in balance, so only the comparison
        # with the ledger can tell.
        wrong = escrow.Escrow(
            money.funded + 1, money.released, money.refunded, money.available + 1, money.bonus
        )
        return escrow.LedgerSummary(wrong, summary.by_milestone, summary.covered, summary.funded)

    monkeypatch.setattr(escrow, "_derived", off_by_a_cent)
    body = await client.post(
        MUTATIONS["activateMilestone"], {"input": {"milestoneId": room.milestone(0)}}
    )
    assert body.get("errors") and body["data"] is None

    monkeypatch.setattr(escrow, "_derived", derive)
    state = await room.read()
    assert [m["status"] for m in state["milestones"]] == ["UPCOMING"]
    assert state["escrow"]["totalFunded"] == "0.00"
    assert "MILESTONE_ACTIVATED" not in event_kinds(state)
