"""Bonuses: the client pays the freelancer more than the milestones, deposited and released
at once (escrow never holds a bonus; it counts in `totalFunded`, `totalReleased` and
`totalBonus`)."""

from __future__ import annotations

from typing import Any

from milestones.domain import escrow, rules
from milestones.domain.access import Role
from milestones.domain.acting import Act, contract_action, the_contract
from milestones.domain.commands import SendBonus
from milestones.domain.errors import refuse_if
from milestones.domain.outcome import Outcome
from milestones.models import Contract, Milestone
from milestones.models.enums import EventKind


async def pay_bonus(
    act: Act[Any, Any], amount: int, note: str | None, milestone: Milestone | None = None
) -> None:
    """The bonus's ledger row and its `BONUS_PAID` event (shared with `approveMilestone`)."""
    await escrow.pay_bonus(act.contract, amount, milestone)
    await escrow.assert_conserved(act.contract, milestone)
    await act.record(EventKind.BONUS_PAID, milestone=milestone, amount=amount, note=note)


@contract_action(the_contract, role=Role.CLIENT, doing="send bonuses")
async def send_bonus(act: Act[SendBonus, Contract]) -> Outcome:
    refuse_if(rules.send_bonus_refusal(await act.room()))
    await pay_bonus(act, act.command.amount, act.command.message)
    return Outcome(act.contract)
