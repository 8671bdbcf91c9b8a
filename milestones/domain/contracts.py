"""Contract actions: create (the viewer becomes the client) and end.

Ending settles the money still held. The client pays what they choose (`payAmount`, the
active milestone's funds first) and asks the rest back with a refund request to the
freelancer (who accepts it, lets it expire, or disputes it); the freelancer ending gives
everything held back to the client at once."""

from __future__ import annotations

import datetime as dt
from typing import Any

from milestones.domain import clock, escrow, events, rules, snapshots
from milestones.domain.access import Role, role_of
from milestones.domain.acting import Act, contract_action, the_contract
from milestones.domain.commands import CreateContract, EndContract
from milestones.domain.errors import DomainError, ErrorCode, Problem, refuse_if
from milestones.domain.idempotency import idempotent
from milestones.domain.outcome import Outcome
from milestones.domain.settlement import move_held
from milestones.domain.transaction import action
from milestones.domain.windows import DEADLINES_CHANNEL, windows
from milestones.models import ChangeRequest, Contract, Milestone, RefundRequest, User
from milestones.models.enums import (
    FUNDED_STATUSES,
    ChangeRequestStatus,
    ContractStatus,
    EventKind,
)

CONTRACT_ENDED_RESPONSE = "The contract ended."


def _freelancer_problems(viewer: User, freelancer: User | None) -> list[Problem]:
    if freelancer is None:
        message = "No user has this ID (they must have signed in once)."
    elif freelancer.id == viewer.id:
        message = "You cannot contract with yourself."
    else:
        return []
    return [Problem(ErrorCode.VALIDATION, message, "freelancer_id")]


async def create_contract(viewer: User, command: CreateContract) -> Outcome:
    """The one action without a contract to lock: the viewer starts one."""
    async with action() as transaction:
        async with idempotent(viewer, command, contract_locked=False) as keyed:
            if keyed.replayed is not None:
                return snapshots.restore(keyed.replayed)
            pk = command.freelancer_id
            freelancer = await User.get_or_none(id=pk) if pk is not None else None
            problems = [*command.problems, *_freelancer_problems(viewer, freelancer)]
            if problems:
                raise DomainError(*problems)
            contract = await Contract.create(
                title=command.title,
                currency=command.currency,
                client_id=viewer.id,
                freelancer_id=pk,
            )
            await events.record(transaction, contract, EventKind.CONTRACT_CREATED, viewer)
            outcome = Outcome(contract)
            if keyed.wanted:
                keyed.keep(await snapshots.capture(outcome))
    return outcome


async def _funded_milestone(act: Act[Any, Any]) -> Milestone | None:
    """The milestone the room found funded, read again: the action (an approval that ends
    the contract) may have just settled it."""
    pk = (await act.room()).funded_milestone_id
    if pk is None:
        return None
    milestone = await Milestone.get(id=pk)
    return milestone if milestone.status in FUNDED_STATUSES else None


async def end_contract_now(act: Act[Any, Any], *, pay_amount: int = 0) -> None:
    """End the contract: the client pays `pay_amount` and asks the rest of the money held
    back (a refund request); the freelancer gives it all back at once. A pending change
    request is closed; upcoming milestones stay frozen."""
    contract = act.contract
    milestone = await _funded_milestone(act)
    held = (await escrow.ledger_summary(contract, about=())).escrow.held
    by_client = role_of(act.viewer, contract) is Role.CLIENT
    paid, refunded = (pay_amount, 0) if by_client else (0, held)
    await move_held(contract, milestone, release=paid, refund=refunded)
    rest = held - paid - refunded
    pending = (await act.room()).pending_change_request_id
    now = clock.now()
    if pending is not None:
        await ChangeRequest.filter(id=pending).update(
            status=ChangeRequestStatus.DECLINED,
            responded_at=now,
            response_message=CONTRACT_ENDED_RESPONSE,
        )
    contract.status = ContractStatus.ENDED
    contract.ended_at = now
    await Contract.filter(id=contract.id).update(status=ContractStatus.ENDED, ended_at=now)
    note = act.command.message if isinstance(act.command, EndContract) else None
    await act.record(EventKind.CONTRACT_ENDED, amount=paid or refunded or None, note=note)
    if rest > 0:
        await _ask_rest_back(act, milestone, rest, now)


async def _ask_rest_back(
    act: Act[Any, Any], milestone: Milestone | None, amount: int, now: dt.datetime
) -> None:
    """The escrow refund request of an ended contract: for the active milestone while it
    still holds money, else for the `available` balance alone (no milestone)."""
    if milestone is not None and milestone.status not in FUNDED_STATUSES:
        milestone = None
    window = windows().refund_response
    respond_by = now + window
    refund_request = await RefundRequest.create(
        respond_by=respond_by,
        remind_at=windows().remind_at(respond_by, window),
        contract_id=act.contract.id,
        milestone_id=milestone.id if milestone is not None else None,
        requested_by_id=act.viewer.id,
        amount=amount,
    )
    act.transaction.wake(DEADLINES_CHANNEL, 0)
    await act.record(
        EventKind.REFUND_REQUESTED,
        milestone=milestone,
        refund_request=refund_request,
        amount=amount,
    )


async def _pay_within_held(act: Act[EndContract, Contract]) -> list[Problem]:
    if act.command.pay_amount == 0:
        return []
    if role_of(act.viewer, act.contract) is not Role.CLIENT:
        message = "Only the client pays when ending; the freelancer gives everything back."
        return [Problem(ErrorCode.VALIDATION, message, "pay_amount")]
    held = (await escrow.ledger_summary(act.contract, about=())).escrow.held
    problem = rules.pay_within_held(act.command.pay_amount, held)
    return [problem] if problem is not None else []


@contract_action(the_contract, role=None, doing="end the contract", validate=_pay_within_held)
async def end_contract(act: Act[EndContract, Contract]) -> Outcome:
    refuse_if(rules.end_contract_refusal(await act.room()))
    await end_contract_now(act, pay_amount=act.command.pay_amount)
    return Outcome(act.contract)
