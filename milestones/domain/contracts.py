"""Contract actions: create (the viewer becomes the client) and end."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from milestones.domain import escrow, events, rules
from milestones.domain.access import lock_contract
from milestones.domain.errors import Validation
from milestones.domain.transaction import Action, action
from milestones.domain.values import parse_currency, parse_text, parse_title
from milestones.ids import decode
from milestones.models import ChangeRequest, Contract, User
from milestones.models.enums import ChangeRequestStatus, ContractStatus, EventKind

CONTRACT_ENDED_RESPONSE = "The contract ended."


@dataclass
class ContractOutcome:
    contract: Contract


async def create_contract(
    viewer: User, title: object, freelancer_id: object, currency: object = None
) -> ContractOutcome:
    errors = Validation()
    clean_title = parse_title(title, "title", errors)
    clean_currency = parse_currency(currency, "currency", errors)
    freelancer_pk = decode(freelancer_id, "User")
    freelancer = await User.get_or_none(id=freelancer_pk) if freelancer_pk is not None else None
    if freelancer is None:
        errors.add("freelancerId", "No user has this ID (they must have signed in once).")
    elif freelancer.id == viewer.id:
        errors.add("freelancerId", "You cannot contract with yourself.")
    errors.raise_if_any()
    assert clean_title is not None and freelancer is not None
    async with action() as act:
        contract = await Contract.create(
            title=clean_title,
            currency=clean_currency,
            client_id=viewer.id,
            freelancer_id=freelancer.id,
        )
        await events.record(act, contract, EventKind.CONTRACT_CREATED, viewer)
    return ContractOutcome(contract)


async def end_contract_now(act: Action, contract: Contract, actor: User) -> None:
    """Refund the available balance, close a pending change request, freeze the rest."""
    await escrow.refund_available(contract)
    pending = await rules.pending_change_request(contract)
    now = dt.datetime.now(dt.UTC)
    if pending is not None:
        await ChangeRequest.filter(id=pending.id).update(
            status=ChangeRequestStatus.DECLINED,
            responded_at=now,
            response_message=CONTRACT_ENDED_RESPONSE,
        )
    contract.status = ContractStatus.ENDED
    contract.ended_at = now
    await Contract.filter(id=contract.id).update(status=ContractStatus.ENDED, ended_at=now)
    await escrow.assert_conserved(contract)
    await events.record(act, contract, EventKind.CONTRACT_ENDED, actor)


async def end_contract(
    viewer: User, contract_id: object, message: object = None
) -> ContractOutcome:
    async with action() as act:
        contract = await lock_contract(viewer, decode(contract_id, "Contract"), "contractId")
        errors = Validation()
        parse_text(message, "message", errors)
        errors.raise_if_any()
        rules.ensure_contract_open(contract)
        await rules.ensure_nothing_in_escrow_for_active_milestone(contract)
        await end_contract_now(act, contract, viewer)
    return ContractOutcome(contract)
