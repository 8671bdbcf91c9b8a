"""Contract actions: offer (the viewer becomes the client), accept or decline an offer, end
(or, on an offer, withdraw)."""

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
from milestones.domain.teams import acting_team
from milestones.domain.transaction import action
from milestones.models import ChangeRequest, Contract, Team, TeamMember, User
from milestones.models.enums import ChangeRequestStatus, ContractStatus, EventKind

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


async def end_contract_now(act: Act[Any, Any]) -> None:
    """Refund the available balance, close a pending change request, freeze the rest."""
    contract = act.contract
    await escrow.refund_available(contract)
    pending = (await act.room()).pending_change_request_id
    now = dt.datetime.now(dt.UTC)
    if pending is not None:
        await ChangeRequest.filter(id=pending).update(
            status=ChangeRequestStatus.DECLINED,
            responded_at=now,
            response_message=CONTRACT_ENDED_RESPONSE,
        )
    contract.status = ContractStatus.ENDED
    contract.ended_at = now
    await Contract.filter(id=contract.id).update(status=ContractStatus.ENDED, ended_at=now)
    await escrow.assert_conserved(contract)
    note = act.command.message if isinstance(act.command, EndContract) else None
    await act.record(EventKind.CONTRACT_ENDED, note=note)


async def _close_offer(act: Act[Any, Contract], note: str | None) -> None:
    """Declined by the freelancer party, or withdrawn by the client: DECLINED, final."""
    now = clock.now()
    act.contract.status = ContractStatus.DECLINED
    act.contract.ended_at = now
    await Contract.filter(id=act.contract.id).update(status=ContractStatus.DECLINED, ended_at=now)
    await act.record(EventKind.CONTRACT_DECLINED, note=note)


@contract_action(the_contract, role=None, doing="end the contract")
async def end_contract(act: Act[EndContract, Contract]) -> Outcome:
    role = act.access.role if act.access is not None else None
    refuse_if(rules.end_contract_refusal(await act.room(), role))
    if act.contract.status is ContractStatus.OFFERED:  # the client withdraws the offer
        await _close_offer(act, act.command.message)
    else:
        await end_contract_now(act)
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
