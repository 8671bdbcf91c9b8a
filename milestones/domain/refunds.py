"""Escrow refunds: the client asks, the freelancer accepts or declines."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from milestones.domain import escrow, events, rules
from milestones.domain.access import (
    Role,
    lock_contract_of_milestone,
    lock_contract_of_refund_request,
    require_role,
)
from milestones.domain.errors import ErrorCode, Validation, refuse
from milestones.domain.milestones import set_status
from milestones.domain.transaction import action
from milestones.domain.values import parse_text
from milestones.models import Contract, Milestone, RefundRequest, User
from milestones.models.enums import EventKind, MilestoneStatus, RefundRequestStatus


@dataclass
class RefundOutcome:
    contract: Contract
    milestone: Milestone
    refund_request: RefundRequest


async def request_escrow_refund(
    viewer: User, milestone_id: object, message: object = None
) -> RefundOutcome:
    async with action() as act:
        contract, milestone = await lock_contract_of_milestone(viewer, milestone_id)
        require_role(viewer, contract, Role.CLIENT, "request a refund")
        errors = Validation()
        clean_message = parse_text(message, "message", errors)
        errors.raise_if_any()
        rules.ensure_contract_open(contract)
        rules.ensure_status(
            milestone,
            [MilestoneStatus.ACTIVE, MilestoneStatus.SUBMITTED],
            ErrorCode.MILESTONE_NOT_ACTIVE,
        )
        await rules.ensure_no_pending_refund_request(contract)
        held = (
            (await escrow.ledger_summary(contract, about=[milestone.id])).of(milestone.id).in_escrow
        )
        refund_request = await RefundRequest.create(
            contract_id=contract.id,
            milestone_id=milestone.id,
            requested_by_id=viewer.id,
            amount=held,
            message=clean_message,
        )
        await events.record(
            act,
            contract,
            EventKind.REFUND_REQUESTED,
            viewer,
            milestone=milestone,
            refund_request=refund_request,
            amount=held,
        )
    return RefundOutcome(contract, milestone, refund_request)


async def respond_to_refund_request(
    viewer: User, refund_request_id: object, accept: bool, message: object = None
) -> RefundOutcome:
    async with action() as act:
        contract, refund_request = await lock_contract_of_refund_request(viewer, refund_request_id)
        require_role(viewer, contract, Role.FREELANCER, "answer refund requests")
        errors = Validation()
        clean_message = parse_text(message, "message", errors)
        errors.raise_if_any()
        rules.ensure_contract_open(contract)
        if refund_request.status is not RefundRequestStatus.PENDING:
            raise refuse(ErrorCode.NOT_PENDING, "The refund request was already answered.")
        milestone = await Milestone.get(id=refund_request.milestone_id)
        if accept:
            await escrow.refund_milestone(contract, milestone)
            await set_status(milestone, MilestoneStatus.REFUNDED)
            await escrow.assert_conserved(contract, milestone)
        refund_request.status = (
            RefundRequestStatus.ACCEPTED if accept else RefundRequestStatus.DECLINED
        )
        refund_request.responded_at = dt.datetime.now(dt.UTC)
        refund_request.response_message = clean_message
        await refund_request.save()
        await events.record(
            act,
            contract,
            EventKind.REFUND_ACCEPTED if accept else EventKind.REFUND_DECLINED,
            viewer,
            milestone=milestone,
            refund_request=refund_request,
            amount=refund_request.amount,
        )
    return RefundOutcome(contract, milestone, refund_request)
