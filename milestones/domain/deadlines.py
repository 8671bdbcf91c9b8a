"""Deadlines that act by themselves: a review window that ends releases the milestone, an
unanswered refund request is accepted, a dispute the client leaves unanswered releases its
amount to the freelancer.

Deadlines are columns (`Milestone.review_deadline`, `RefundRequest.respond_by`,
`Dispute.respond_by`), so they
survive restarts and any instance may act on a due one. Acting is an ordinary action with no
actor: the contract is locked (PostgreSQL: `SKIP LOCKED`, so instances share the work instead
of queueing on one contract; SQLite: the process lock), the state is read again under the
lock, and the deadline acts only if it still applies. A second instance that saw the same due
row finds it settled: each deadline acts exactly once.
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
from collections.abc import Callable
from typing import cast

from tortoise import connections

from milestones.domain import clock, escrow, events
from milestones.domain.disputes import resolve
from milestones.domain.refunds import concerned_milestone, give_back, milestone_of
from milestones.domain.reminders import next_reminder_sql, review_waiting, when
from milestones.domain.rules import load_room_state
from milestones.domain.settlement import settled
from milestones.domain.submissions import submission_answer
from milestones.domain.transaction import Action, action
from milestones.models import Contract, Dispute, Milestone, RefundRequest
from milestones.models.enums import (
    OPEN_DISPUTE_STATUSES,
    ContractStatus,
    DisputeResolutionKind,
    DisputeStatus,
    EventKind,
    MilestoneStatus,
    RefundRequestStatus,
    SubmissionOutcome,
)

logger = logging.getLogger(__name__)

# Contracts acted on in one transaction (one commit for all of them).
PER_TRANSACTION = 20

# One scalar subquery per kind of deadline: its earliest one that can act.
DEADLINE_SQL: list[Callable[[], str]] = [
    lambda: "SELECT min(t.respond_by) FROM refund_requests AS t WHERE t.status = 'PENDING'",
    lambda: "SELECT min(t.respond_by) FROM disputes AS t WHERE t.status = 'AWAITING_CLIENT'",
    lambda: (
        "SELECT min(t.review_deadline) FROM milestones AS t "
        f"WHERE t.review_deadline IS NOT NULL AND {review_waiting()}"
    ),
]


def next_due_sql() -> str:
    """One row: the earliest moment of each kind of deadline and reminder (no parameters)."""
    subqueries = [make() for make in DEADLINE_SQL] + next_reminder_sql()
    return "SELECT " + ", ".join(f"({query}) AS d{i}" for i, query in enumerate(subqueries))


async def next_due() -> dt.datetime | None:
    """The earliest moment anything is due (a deadline or a reminder), or None: one statement,
    the scheduler's only question while idle."""
    _, rows = await connections.get("default").execute_query(next_due_sql())
    moments = [when(value) for value in tuple(rows[0])]
    return min((moment for moment in moments if moment is not None), default=None)


async def due_contracts(now: dt.datetime, limit: int = 100) -> list[int]:
    """Contracts with a deadline that passed and can act (oldest first, at most `limit`)."""
    refunds = await (
        RefundRequest.filter(status=RefundRequestStatus.PENDING, respond_by__lte=now)
        .order_by("respond_by")
        .limit(limit)
        .values_list("contract_id", flat=True)
    )
    disputes = await (
        Dispute.filter(status=DisputeStatus.AWAITING_CLIENT, respond_by__lte=now)
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
        # A pending refund request or an open dispute pauses the review deadline (until
        # answered, expired or resolved).
        paused = set(
            await RefundRequest.filter(
                contract_id__in=reviews, status=RefundRequestStatus.PENDING
            ).values_list("contract_id", flat=True)
        ) | set(
            await Dispute.filter(
                contract_id__in=reviews, status__in=OPEN_DISPUTE_STATUSES
            ).values_list("contract_id", flat=True)
        )
        reviews = [pk for pk in reviews if pk not in paused]
    due = dict.fromkeys(cast(list[int], [*disputes, *refunds, *reviews]))
    return list(due)[:limit]


async def act_on_deadlines(contract_id: int, now: dt.datetime | None = None) -> int:
    """Act on what is due in one contract; how many deadlines acted (0 when another instance
    holds the contract, or nothing is due any more)."""
    return await _act_on_batch([contract_id], now)


async def _act_on_batch(contract_ids: list[int], now: dt.datetime | None) -> int:
    """One transaction for a few contracts (one commit instead of one each): those no other
    instance holds are locked with one statement, then acted on in turn."""
    acted = 0
    async with action() as transaction:
        contracts = await Contract.select_for_update(skip_locked=True).filter(id__in=contract_ids)
        for contract in sorted(contracts, key=lambda c: contract_ids.index(c.id)):
            moment = now or clock.now()
            while True:  # an expired refund request or dispute may unpause a passed review
                outcome = await _act_once(transaction, contract, moment)
                if outcome is _Acted.NOTHING:
                    break
                acted += 1
                await transaction.mark_changed(contract)
                if outcome is _Acted.SETTLED:
                    break
    return acted


class _Acted(enum.Enum):
    NOTHING = enum.auto()  # nothing due (any more)
    SETTLED = enum.auto()  # acted; nothing more can be due on the contract now
    MAYBE_MORE = enum.auto()  # acted; a paused deadline may be due now


async def _act_once(transaction: Action, contract: Contract, moment: dt.datetime) -> _Acted:
    room = await load_room_state(contract)
    if room.open_dispute_id is not None:
        dispute = await Dispute.get(id=room.open_dispute_id)
        if (
            dispute.status is not DisputeStatus.AWAITING_CLIENT
            or dispute.respond_by is None
            or dispute.respond_by > moment
        ):
            return _Acted.NOTHING  # waiting for the client or a mediator: money frozen
        await resolve(
            transaction,
            contract,
            dispute,
            release=dispute.amount,
            kind=DisputeResolutionKind.AUTO_RESOLVED,
            event=EventKind.DISPUTE_AUTO_RESOLVED,
            actor=None,
        )
        return _Acted.MAYBE_MORE
    if room.pending_refund_request_id is not None:
        refund = await RefundRequest.get(id=room.pending_refund_request_id)
        if refund.respond_by is None or refund.respond_by > moment:
            return _Acted.NOTHING
        await _accept_refund(transaction, contract, refund, moment)
        return _Acted.MAYBE_MORE
    if room.funded_milestone_id is not None:
        milestone = await Milestone.get(id=room.funded_milestone_id)
        deadline = milestone.review_deadline
        if (
            milestone.status is not MilestoneStatus.SUBMITTED
            or deadline is None
            or deadline > moment
            # On an ended contract only its refund request or dispute moves money.
            or contract.status is ContractStatus.ENDED
        ):
            return _Acted.NOTHING
        await _release(transaction, contract, milestone)
        return _Acted.SETTLED
    return _Acted.NOTHING


async def _release(transaction: Action, contract: Contract, milestone: Milestone) -> None:
    """The client stayed silent: everything the milestone holds goes to the freelancer."""
    held = (await escrow.ledger_summary(contract, about=[milestone.id])).of(milestone.id)
    answered = submission_answer(milestone, SubmissionOutcome.AUTO_RELEASED, clock.now())
    await escrow.release_to_freelancer(
        contract,
        milestone,
        held.in_escrow,
        [settled(milestone, MilestoneStatus.RELEASED), answered],
    )
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
    milestone = await milestone_of(refund)
    concerns = await concerned_milestone(contract, milestone)
    await give_back(contract, refund, milestone)
    refund.status = RefundRequestStatus.ACCEPTED
    refund.responded_at = moment
    refund.remind_at = None
    await refund.save(update_fields=["status", "responded_at", "remind_at"])
    await events.record(
        transaction,
        contract,
        EventKind.REFUND_AUTO_ACCEPTED,
        None,
        milestone=concerns,
        refund_request=refund,
        amount=refund.amount,
    )


async def act_on_due(
    now: dt.datetime | None = None, limit: int = 100, per_transaction: int = PER_TRANSACTION
) -> int:
    """One pass: act on the contracts with due deadlines; how many deadlines acted.

    `per_transaction` contracts share a transaction; if one of them fails, that batch is done
    again one contract per transaction, so one broken contract holds back no other."""
    moment = now or clock.now()
    due = await due_contracts(moment, limit)
    acted = 0
    for start in range(0, len(due), per_transaction):
        batch = due[start : start + per_transaction]
        try:
            acted += await _act_on_batch(batch, now)
        except Exception:
            if len(batch) == 1:
                raise
            logger.exception("a batch of deadlines failed; acting one contract at a time")
            for contract_id in batch:
                try:
                    acted += await act_on_deadlines(contract_id, now)
                except Exception:
                    logger.exception("deadlines of contract %s failed", contract_id)
    return acted
