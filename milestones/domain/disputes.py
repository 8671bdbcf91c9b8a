"""Disputes: the freelancer contests a refund request or a withheld payment; the client gives
in or sends it to mediation; a mediator decides; the client's silence releases it.

While a dispute is open its money is frozen (`rules.no_open_dispute`): only its resolution
moves it, here, through `settlement.move_held`, the way every other action moves money.
"""

from __future__ import annotations

from typing import Any, cast

from milestones.domain import clock, escrow, events, rules
from milestones.domain.access import (
    Role,
)
from milestones.domain.acting import (
    Act,
    contract_action,
    the_dispute,
    the_milestone,
    the_refund_request,
)
from milestones.domain.commands import OpenDispute, ResolveDispute, RespondToDispute
from milestones.domain.errors import ErrorCode, Problem, refuse, refuse_if
from milestones.domain.outcome import Outcome
from milestones.domain.rules import RoomState
from milestones.domain.settlement import move_held
from milestones.domain.transaction import Action
from milestones.domain.windows import DEADLINES_CHANNEL, windows
from milestones.models import Contract, Dispute, Milestone, RefundRequest, User
from milestones.models.enums import (
    DisputeResolutionKind,
    DisputeStatus,
    EventKind,
    RefundRequestStatus,
)

Disputed = Milestone | RefundRequest


async def _the_disputed(
    viewer: User, command: OpenDispute
) -> tuple[Contract, Disputed, RoomState | None]:
    """The refund request or the milestone the command names (exactly one)."""
    if (command.refund_request_id is None) == (command.milestone_id is None):
        raise refuse(
            ErrorCode.VALIDATION, "Name either a refund request or a milestone.", "milestone_id"
        )
    if command.refund_request_id is not None:
        return await the_refund_request(viewer, command)
    return await the_milestone(viewer, command)


async def _milestone(pk: int | None) -> Milestone | None:
    return await Milestone.get(id=pk) if pk is not None else None


@contract_action(_the_disputed, role=Role.FREELANCER, doing="open disputes")
async def open_dispute(act: Act[OpenDispute, Disputed]) -> Outcome:
    room, target, message = await act.room(), act.target, act.command.message
    refund_request: RefundRequest | None = None
    if isinstance(target, RefundRequest):
        refuse_if(rules.open_dispute_refusal(room, refund_request=target))
        refund_request, milestone, amount = (
            target,
            await _milestone(target.milestone_id),
            target.amount,
        )
    else:
        refuse_if(rules.open_dispute_refusal(room, milestone=target))
        milestone, amount = target, (await act.money_of(target)).in_escrow
    now, window = clock.now(), windows().dispute_response
    respond_by = now + window
    dispute = await Dispute.create(
        contract_id=act.contract.id,
        milestone_id=milestone.id if milestone is not None else None,
        refund_request_id=refund_request.id if refund_request is not None else None,
        opened_by_id=act.viewer.id,
        message=message,
        amount=amount,
        status=DisputeStatus.AWAITING_CLIENT,
        opened_at=now,
        respond_by=respond_by,
        remind_at=windows().remind_at(respond_by, window),
    )
    if refund_request is not None:
        # Disputed instead of answered: it stays DISPUTED, its dispute carries the outcome.
        refund_request.status = RefundRequestStatus.DISPUTED
        refund_request.remind_at = None
        await refund_request.save(update_fields=["status", "remind_at"])
    act.transaction.wake(DEADLINES_CHANNEL, 0)
    await act.record(
        EventKind.DISPUTE_OPENED,
        milestone=milestone,
        refund_request=refund_request,
        dispute=dispute,
        amount=amount,
        note=message,
    )
    return Outcome(act.contract, milestone, refund_request=refund_request, dispute=dispute)


@contract_action(the_dispute, role=Role.CLIENT, doing="answer disputes")
async def respond_to_dispute(act: Act[RespondToDispute, Dispute]) -> Outcome:
    contract, dispute, command = act.contract, act.target, act.command
    refuse_if(rules.respond_to_dispute_refusal(dispute))
    if command.accept:
        await resolve(
            act.transaction,
            contract,
            dispute,
            release=dispute.amount,
            kind=DisputeResolutionKind.CLIENT_ACCEPTED,
            event=EventKind.DISPUTE_ACCEPTED,
            actor=act.viewer,
            message=command.message,
        )
        return await _outcome(contract, dispute)
    now = clock.now()
    dispute.status = DisputeStatus.IN_MEDIATION
    dispute.escalated_at = now
    dispute.response_message = command.message
    dispute.respond_by = None
    dispute.remind_at = None
    await dispute.save(
        update_fields=["status", "escalated_at", "response_message", "respond_by", "remind_at"]
    )
    if contract.mediated_at is None:
        contract.mediated_at = now
        await Contract.filter(id=contract.id).update(mediated_at=now)
    mediators = cast(list[int], await User.filter(is_mediator=True).values_list("id", flat=True))
    await act.record(
        EventKind.DISPUTE_ESCALATED,
        milestone=await _milestone(dispute.milestone_id),
        refund_request=await _refund_request(dispute.refund_request_id),
        dispute=dispute,
        amount=dispute.amount,
        note=command.message,
        also_notify=sorted(mediators),
    )
    return await _outcome(contract, dispute)


async def _release_within_disputed(act: Act[ResolveDispute, Dispute]) -> list[Problem]:
    problem = rules.resolve_within_disputed(act.command.release_amount, act.target.amount)
    return [problem] if problem is not None else []


@contract_action(
    the_dispute,
    role=Role.MEDIATOR,
    doing="resolve disputes",
    validate=_release_within_disputed,
)
async def resolve_dispute(act: Act[ResolveDispute, Dispute]) -> Outcome:
    contract, dispute, command = act.contract, act.target, act.command
    refuse_if(rules.resolve_dispute_refusal(dispute))
    await resolve(
        act.transaction,
        contract,
        dispute,
        release=command.release_amount,
        kind=DisputeResolutionKind.MEDIATOR_DECIDED,
        event=EventKind.DISPUTE_RESOLVED,
        actor=act.viewer,
        message=command.message,
    )
    return await _outcome(contract, dispute)


async def resolve(
    transaction: Action,
    contract: Contract,
    dispute: Dispute,
    *,
    release: int,
    kind: DisputeResolutionKind,
    event: EventKind,
    actor: User | None,
    message: str | None = None,
) -> None:
    """Settle the disputed amount: `release` to the freelancer, the rest back to the client
    (the milestone's money first), and record who decided (None: the deadline did)."""
    milestone = await _milestone(dispute.milestone_id)
    # An ended contract's `available` money: its event names the milestone it came from.
    concerns = milestone or await escrow.source_of_held(contract, None)
    refunded = dispute.amount - release
    await move_held(contract, milestone, release=release, refund=refunded)
    dispute.status = DisputeStatus.RESOLVED
    dispute.resolved_at = clock.now()
    dispute.resolution_kind = kind
    dispute.released_amount = release
    dispute.refunded_amount = refunded
    dispute.decided_by_id = actor.id if actor is not None else None
    dispute.resolution_message = message
    dispute.respond_by = None
    dispute.remind_at = None
    fields: list[str] = [
        "status",
        "resolved_at",
        "resolution_kind",
        "released_amount",
        "refunded_amount",
        "decided_by_id",
        "resolution_message",
        "respond_by",
        "remind_at",
    ]
    await dispute.save(update_fields=fields)
    # No longer open: a review deadline it paused may act now (at once if it passed).
    transaction.wake(DEADLINES_CHANNEL, 0)
    await events.record(
        transaction,
        contract,
        event,
        actor,
        milestone=concerns,
        refund_request=await _refund_request(dispute.refund_request_id),
        dispute=dispute,
        amount=release,
        note=message,
    )


async def _refund_request(pk: int | None) -> RefundRequest | None:
    return await RefundRequest.get(id=pk) if pk is not None else None


async def _outcome(contract: Contract, dispute: Dispute) -> Outcome:
    milestone: Any = await _milestone(dispute.milestone_id)
    return Outcome(
        contract,
        milestone,
        refund_request=await _refund_request(dispute.refund_request_id),
        dispute=dispute,
    )
