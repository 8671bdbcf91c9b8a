"""Escrow refunds: the client asks, the freelancer accepts or declines."""

from __future__ import annotations

from milestones.domain import clock, escrow, rules
from milestones.domain.access import Role
from milestones.domain.acting import Act, contract_action, the_milestone, the_refund_request
from milestones.domain.commands import RequestEscrowRefund, RespondToRefundRequest
from milestones.domain.errors import Problem, refuse_if
from milestones.domain.outcome import Outcome
from milestones.domain.settlement import move_held
from milestones.domain.windows import DEADLINES_CHANNEL, windows
from milestones.models import Contract, Milestone, RefundRequest
from milestones.models.enums import EventKind, RefundRequestStatus


@contract_action(the_milestone, role=Role.CLIENT, doing="request a refund")
async def request_escrow_refund(act: Act[RequestEscrowRefund, Milestone]) -> Outcome:
    milestone, message = act.target, act.command.message
    refuse_if(rules.request_refund_refusal(await act.room(), milestone))
    held = (await act.money_of(milestone)).in_escrow
    window = windows().refund_response
    respond_by = clock.now() + window
    refund_request = await RefundRequest.create(
        respond_by=respond_by,
        remind_at=windows().remind_at(respond_by, window),
        contract_id=act.contract.id,
        milestone_id=milestone.id,
        requested_by_id=act.viewer.id,
        amount=held,
        message=message,
    )
    act.transaction.wake(DEADLINES_CHANNEL, 0)
    await act.record(
        EventKind.REFUND_REQUESTED,
        milestone=milestone,
        refund_request=refund_request,
        amount=held,
        note=message,
    )
    return Outcome(act.contract, milestone, refund_request=refund_request)


async def _declinable(act: Act[RespondToRefundRequest, RefundRequest]) -> list[Problem]:
    if act.command.accept:
        return []
    problem = rules.decline_refund_refusal(act.contract, act.target)
    return [problem] if problem is not None else []


@contract_action(
    the_refund_request,
    role=Role.FREELANCER,
    doing="answer refund requests",
    validate=_declinable,
)
async def respond_to_refund_request(act: Act[RespondToRefundRequest, RefundRequest]) -> Outcome:
    contract, refund_request, command = act.contract, act.target, act.command
    refuse_if(rules.answer_refusal(contract, refund_request))
    milestone = await milestone_of(refund_request)
    concerns = await concerned_milestone(contract, milestone)
    if command.accept:
        await give_back(contract, refund_request, milestone)
    refund_request.status = (
        RefundRequestStatus.ACCEPTED if command.accept else RefundRequestStatus.DECLINED
    )
    refund_request.responded_at = clock.now()
    refund_request.response_message = command.message
    refund_request.remind_at = None
    await refund_request.save()
    # No longer pending: a review deadline it paused may act now (at once if it passed).
    act.transaction.wake(DEADLINES_CHANNEL, 0)
    await act.record(
        EventKind.REFUND_ACCEPTED if command.accept else EventKind.REFUND_DECLINED,
        milestone=concerns,
        refund_request=refund_request,
        amount=refund_request.amount,
        note=command.message,
    )
    return Outcome(contract, milestone, refund_request=refund_request)


async def milestone_of(refund_request: RefundRequest) -> Milestone | None:
    """The refund request's milestone; None for an ended contract's `available` money."""
    if refund_request.milestone_id is None:
        return None
    return await Milestone.get(id=refund_request.milestone_id)


async def concerned_milestone(contract: Contract, milestone: Milestone | None) -> Milestone | None:
    """What the answer's event names: the refund request's milestone, else (an ended
    contract's `available` money) the milestone that money was left over from, if one.
    Read before the money moves."""
    if milestone is not None:
        return milestone
    return await escrow.source_of_held(contract, None)


async def give_back(
    contract: Contract, refund_request: RefundRequest, milestone: Milestone | None
) -> None:
    """An accepted refund: its amount goes back to the client (the milestone's money first,
    then `available`); nothing else moved it while it was pending."""
    await move_held(contract, milestone, release=0, refund=refund_request.amount)
