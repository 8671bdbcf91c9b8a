"""Deadlines that act by themselves: a review window that ends releases the milestone, an
unanswered refund request is accepted.

Deadlines are columns (`Milestone.review_deadline`, `RefundRequest.respond_by`), so they
survive restarts and any instance may act on a due one. Acting is an ordinary action with no
actor: the contract is locked (PostgreSQL: `SKIP LOCKED`, so instances share the work instead
of queueing on one contract; SQLite: the process lock), the state is read again under the
lock, and the deadline acts only if it still applies. A second instance that saw the same due
row finds it settled: each deadline acts exactly once.
"""

from __future__ import annotations

import datetime as dt
from typing import cast

from milestones.domain import clock, escrow, events
from milestones.domain.milestones import settle
from milestones.domain.rules import load_room_state
from milestones.domain.submissions import answer_submission
from milestones.domain.transaction import Action, action
from milestones.models import Contract, Milestone, RefundRequest
from milestones.models.enums import (
    EventKind,
    MilestoneStatus,
    RefundRequestStatus,
    SubmissionOutcome,
)


async def due_contracts(now: dt.datetime, limit: int = 100) -> list[int]:
    """Contracts with a deadline that passed and can act (oldest first, at most `limit`)."""
    refunds = await (
        RefundRequest.filter(status=RefundRequestStatus.PENDING, respond_by__lte=now)
        .order_by("respond_by")
        .limit(limit)
        .values_list("contract_id", flat=True)
    )
    reviews = await (
        Milestone.filter(
            status=MilestoneStatus.SUBMITTED, review_deadline__lte=now, deleted_at=None
        )
        .order_by("review_deadline")
        .limit(limit)
        .values_list("contract_id", flat=True)
    )
    if reviews:
        # A pending refund request pauses the review deadline (until answered or expired).
        paused = set(
            await RefundRequest.filter(
                contract_id__in=reviews, status=RefundRequestStatus.PENDING
            ).values_list("contract_id", flat=True)
        )
        reviews = [pk for pk in reviews if pk not in paused]
    due = dict.fromkeys(cast(list[int], [*refunds, *reviews]))
    return list(due)[:limit]


async def act_on_deadlines(contract_id: int, now: dt.datetime | None = None) -> int:
    """Act on what is due in one contract; how many deadlines acted (0 when another instance
    holds the contract, or nothing is due any more)."""
    acted = 0
    while True:  # an expired refund request may unpause a passed review deadline
        async with action() as transaction:
            contract = await Contract.select_for_update(skip_locked=True).get_or_none(
                id=contract_id
            )
            if contract is None:
                return acted
            moment = now or clock.now()
            room = await load_room_state(contract)
            if room.pending_refund_request_id is not None:
                refund = await RefundRequest.get(id=room.pending_refund_request_id)
                if refund.respond_by is None or refund.respond_by > moment:
                    return acted
                await _accept_refund(transaction, contract, refund, moment)
            elif room.funded_milestone_id is not None:
                milestone = await Milestone.get(id=room.funded_milestone_id)
                deadline = milestone.review_deadline
                if milestone.status is not MilestoneStatus.SUBMITTED or (
                    deadline is None or deadline > moment
                ):
                    return acted
                await _release(transaction, contract, milestone)
            else:
                return acted
        acted += 1


async def _release(transaction: Action, contract: Contract, milestone: Milestone) -> None:
    """The client stayed silent: everything the milestone holds goes to the freelancer."""
    held = (await escrow.ledger_summary(contract, about=[milestone.id])).of(milestone.id)
    await escrow.release_to_freelancer(contract, milestone, held.in_escrow)
    await settle(milestone, MilestoneStatus.RELEASED)
    await answer_submission(milestone, SubmissionOutcome.AUTO_RELEASED, clock.now())
    await escrow.assert_conserved(contract, milestone)
    await events.record(
        transaction,
        contract,
        EventKind.MILESTONE_AUTO_RELEASED,
        None,
        milestone=milestone,
        amount=held.in_escrow,
    )


async def _accept_refund(
    transaction: Action, contract: Contract, refund: RefundRequest, moment: dt.datetime
) -> None:
    """The freelancer stayed silent: the refund request is accepted."""
    milestone = await Milestone.get(id=refund.milestone_id)
    await escrow.refund_milestone(contract, milestone)
    await settle(milestone, MilestoneStatus.REFUNDED)
    await escrow.assert_conserved(contract, milestone)
    refund.status = RefundRequestStatus.ACCEPTED
    refund.responded_at = moment
    refund.remind_at = None
    await refund.save(update_fields=["status", "responded_at", "remind_at"])
    await events.record(
        transaction,
        contract,
        EventKind.REFUND_AUTO_ACCEPTED,
        None,
        milestone=milestone,
        refund_request=refund,
        amount=refund.amount,
    )


async def act_on_due(now: dt.datetime | None = None, limit: int = 100) -> int:
    """One pass: act on the contracts with due deadlines; how many deadlines acted."""
    moment = now or clock.now()
    acted = 0
    for contract_id in await due_contracts(moment, limit):
        acted += await act_on_deadlines(contract_id, now)
    return acted
