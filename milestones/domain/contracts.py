"""Contract actions: offer (the viewer becomes the client), accept or decline an offer, end
(or, on an offer, withdraw).

Ending settles the money still held. The client pays what they choose (`payAmount`, the
active milestone's funds first) and asks the rest back with a refund request to the
freelancer (who accepts it, lets it expire, or disputes it); the freelancer ending gives
everything held back to the client at once."""

from __future__ import annotations

import datetime as dt
from typing import Any

from milestones.domain import clock, escrow, events, rules, snapshots
from milestones.domain.access import Role
from milestones.domain.acting import Act, contract_action, the_contract
from milestones.domain.commands import AcceptContract, CreateContract, DeclineContract, EndContract
from milestones.domain.emails import email_key
from milestones.domain.errors import DomainError, ErrorCode, Problem, refuse_if
from milestones.domain.idempotency import idempotent
from milestones.domain.outcome import Outcome
from milestones.domain.settlement import move_held
from milestones.domain.teams import acting_team
from milestones.domain.transaction import action
from milestones.domain.windows import DEADLINES_CHANNEL, windows
from milestones.models import (
    ChangeRequest,
    Contract,
    Milestone,
    RefundRequest,
    Team,
    TeamMember,
    User,
)
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


_PARTY_FIELDS = ("freelancer_id", "freelancer_email", "freelancer_team_id")


async def _agency_problems(
    viewer: User, command: CreateContract, client_team: int | None
) -> list[Problem]:
    """An offer to a team: one that exists, that the viewer is not in (nor is it their side)."""
    team_pk = command.freelancer_team_id
    if team_pk is None:
        return []
    if not await Team.exists(id=team_pk):
        message = "No team has this ID."
    elif team_pk == client_team or await TeamMember.exists(team_id=team_pk, user_id=viewer.id):
        message = "You cannot send an offer to your own team."
    else:
        return []
    return [Problem(ErrorCode.VALIDATION, message, "freelancer_team_id")]


async def _freelancer_party(
    viewer: User, command: CreateContract
) -> tuple[int | None, str | None, list[Problem]]:
    """(freelancer id, invited email, problems). An offer by email goes to the first user whose
    token carried that address: someone already known now, or whoever signs in with it. An
    offer to a team has no freelancer until one of its OWNERs or ADMINs accepts it."""
    invited = command.freelancer_email
    if any(problem.field in _PARTY_FIELDS for problem in command.problems):
        return None, None, []  # the input named nobody usable: already said
    if command.freelancer_team_id is not None:
        return None, None, []
    if invited is None:
        pk = command.freelancer_id
        freelancer = await User.get_or_none(id=pk) if pk is not None else None
        return pk, None, _freelancer_problems(viewer, freelancer)
    if invited == email_key(viewer.email):
        problem = Problem(
            ErrorCode.VALIDATION, "You cannot send an offer to yourself.", "freelancer_email"
        )
        return None, invited, [problem]
    known = await User.filter(email_key=invited).order_by("id").first()
    if known is not None and known.id == viewer.id:  # viewer's stored key may lag a claim
        problem = Problem(
            ErrorCode.VALIDATION, "You cannot send an offer to yourself.", "freelancer_email"
        )
        return None, invited, [problem]
    return (known.id if known is not None else None), invited, []


async def create_contract(viewer: User, command: CreateContract) -> Outcome:
    """The one action without a contract to lock: the viewer offers one."""
    async with action() as transaction:
        client_team = await acting_team(viewer, command.client_team_id, "client_team_id")
        async with idempotent(viewer, command, contract_locked=False) as keyed:
            if keyed.replayed is not None:
                return snapshots.restore(keyed.replayed)
            freelancer_id, invited, party_problems = await _freelancer_party(viewer, command)
            problems = [
                *command.problems,
                *party_problems,
                *await _agency_problems(viewer, command, client_team),
            ]
            if problems:
                raise DomainError(*problems)
            contract = await Contract.create(
                title=command.title,
                currency=command.currency,
                status=ContractStatus.OFFERED,
                client_id=viewer.id,
                freelancer_id=freelancer_id,
                invited_email=invited,
                client_team_id=client_team,
                freelancer_team_id=command.freelancer_team_id,
            )
            await events.record(transaction, contract, EventKind.CONTRACT_OFFERED, viewer)
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
    summary = await escrow.ledger_summary(contract)  # of every milestone: see source_of_held
    source = await escrow.source_of_held(contract, milestone, summary)
    held = summary.escrow.held
    by_client = act.role is Role.CLIENT
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
    moved = paid or refunded
    await act.record(
        EventKind.CONTRACT_ENDED,
        milestone=source if moved else None,
        amount=moved or None,
        note=note,
    )
    if rest > 0:
        await _ask_rest_back(act, milestone, rest, now, source)


async def _ask_rest_back(
    act: Act[Any, Any],
    milestone: Milestone | None,
    amount: int,
    now: dt.datetime,
    source: Milestone | None,
) -> None:
    """The escrow refund request of an ended contract: for the active milestone while it
    still holds money, else for the `available` balance alone (no milestone; its event
    names the milestone that money was left over from, `source`, when there is one)."""
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
        milestone=milestone or source,
        refund_request=refund_request,
        amount=amount,
    )


async def _pay_within_held(act: Act[EndContract, Contract]) -> list[Problem]:
    if act.command.pay_amount == 0:
        return []
    if act.role is not Role.CLIENT:
        message = "Only the client pays when ending; the freelancer gives everything back."
        return [Problem(ErrorCode.VALIDATION, message, "pay_amount")]
    held = (await escrow.ledger_summary(act.contract, about=())).escrow.held
    problem = rules.pay_within_held(act.command.pay_amount, held)
    return [problem] if problem is not None else []


async def _close_offer(act: Act[Any, Contract], note: str | None) -> None:
    """Declined by the freelancer party, or withdrawn by the client: DECLINED, final."""
    now = clock.now()
    act.contract.status = ContractStatus.DECLINED
    act.contract.ended_at = now
    await Contract.filter(id=act.contract.id).update(status=ContractStatus.DECLINED, ended_at=now)
    await act.record(EventKind.CONTRACT_DECLINED, note=note)


@contract_action(the_contract, role=None, doing="end the contract", validate=_pay_within_held)
async def end_contract(act: Act[EndContract, Contract]) -> Outcome:
    role = act.role
    refuse_if(rules.end_contract_refusal(await act.room(), role))
    if act.contract.status is ContractStatus.OFFERED:  # the client withdraws the offer
        await _close_offer(act, act.command.message)
    else:
        await end_contract_now(act, pay_amount=act.command.pay_amount)
    return Outcome(act.contract)


@contract_action(the_contract, role=Role.FREELANCER, doing="accept the offer")
async def accept_contract(act: Act[AcceptContract, Contract]) -> Outcome:
    refuse_if(rules.accept_contract_refusal(act.contract))
    now = clock.now()
    act.contract.status = ContractStatus.ACTIVE
    act.contract.accepted_at = now
    accepted: dict[str, Any] = {"status": ContractStatus.ACTIVE, "accepted_at": now}
    if act.contract.freelancer_id is None:  # an offer to a team: whoever accepts it for them
        act.contract.freelancer_id = accepted["freelancer_id"] = act.viewer.id
    await Contract.filter(id=act.contract.id).update(**accepted)
    await act.record(EventKind.CONTRACT_ACCEPTED, note=act.command.message)
    return Outcome(act.contract)


@contract_action(the_contract, role=Role.FREELANCER, doing="decline the offer")
async def decline_contract(act: Act[DeclineContract, Contract]) -> Outcome:
    refuse_if(rules.decline_contract_refusal(act.contract))
    await _close_offer(act, act.command.message)
    return Outcome(act.contract)
