"""Contract actions: create (the viewer becomes the client) and end."""

from __future__ import annotations

import datetime as dt
from typing import Any

from milestones.domain import escrow, events, rules, snapshots
from milestones.domain.acting import Act, contract_action, the_contract
from milestones.domain.commands import CreateContract, EndContract
from milestones.domain.errors import DomainError, ErrorCode, Problem, refuse_if
from milestones.domain.idempotency import idempotent
from milestones.domain.outcome import Outcome
from milestones.domain.teams import acting_team
from milestones.domain.transaction import action
from milestones.models import ChangeRequest, Contract, User
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


async def create_contract(viewer: User, command: CreateContract) -> Outcome:
    """The one action without a contract to lock: the viewer starts one."""
    async with action() as transaction:
        client_team = await acting_team(viewer, command.client_team_id, "client_team_id")
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
                client_team_id=client_team,
            )
            await events.record(transaction, contract, EventKind.CONTRACT_CREATED, viewer)
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


@contract_action(the_contract, role=None, doing="end the contract")
async def end_contract(act: Act[EndContract, Contract]) -> Outcome:
    refuse_if(rules.end_contract_refusal(await act.room()))
    await end_contract_now(act)
    return Outcome(act.contract)
