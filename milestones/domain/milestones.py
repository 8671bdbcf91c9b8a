"""Milestone actions: add, edit, delete (upcoming only), activate, submit, reject, approve."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from tortoise.expressions import F

from milestones.domain import escrow, events, idempotency, rules
from milestones.domain.access import Role, lock_contract, lock_contract_of_milestone, require_role
from milestones.domain.contracts import end_contract_now
from milestones.domain.errors import ErrorCode, Validation
from milestones.domain.snapshots import RoomSnapshot
from milestones.domain.transaction import action
from milestones.domain.values import (
    OMITTED,
    Omitted,
    parse_amount,
    parse_date,
    parse_idempotency_key,
    parse_text,
    parse_title,
)
from milestones.ids import decode
from milestones.models import Contract, Milestone, User
from milestones.models.enums import EventKind, MilestoneStatus


@dataclass
class MilestoneOutcome:
    contract: Contract
    milestone: Milestone
    # The room as the first request left it, when an idempotency key is repeated.
    replayed: RoomSnapshot | None = None


# The milestone changes themselves, shared with accepted change requests.


async def create_milestone(
    contract: Contract,
    title: str,
    description: str | None,
    due_date: dt.date | None,
    amount: int,
) -> Milestone:
    position = await Milestone.filter(contract_id=contract.id, deleted_at=None).count() + 1
    return await Milestone.create(
        contract_id=contract.id,
        position=position,
        title=title,
        description=description,
        due_date=due_date,
        amount=amount,
    )


async def change_milestone(milestone: Milestone, changes: dict[str, Any]) -> None:
    for name, value in changes.items():
        setattr(milestone, name, value)
    milestone.version += 1
    # Only the changed columns: never write back a position another change has moved.
    await milestone.save(update_fields=[*changes, "version", "updated_at"])


async def remove_milestone(milestone: Milestone) -> None:
    """Soft-delete (history keeps pointing at it) and close the gap in positions."""
    await milestone.refresh_from_db(fields=["position"])  # earlier changes may have moved it
    milestone.deleted_at = dt.datetime.now(dt.UTC)
    milestone.version += 1
    await milestone.save(update_fields=["deleted_at", "version", "updated_at"])
    await Milestone.filter(
        contract_id=milestone.contract_id, deleted_at=None, position__gt=milestone.position
    ).update(position=F("position") - 1)


async def set_status(milestone: Milestone, status: MilestoneStatus) -> None:
    milestone.status = status
    milestone.version += 1
    await milestone.save(update_fields=["status", "version", "updated_at"])


# The actions.


async def add_milestone(
    viewer: User,
    contract_id: object,
    title: object,
    description: object,
    due_date: object,
    amount: object,
) -> MilestoneOutcome:
    async with action() as act:
        contract = await lock_contract(viewer, decode(contract_id, "Contract"), "contractId")
        require_role(viewer, contract, Role.CLIENT, "add milestones")
        errors = Validation()
        clean_title = parse_title(title, "title", errors)
        clean_description = parse_text(description, "description", errors)
        clean_due = parse_date(due_date, "dueDate", errors)
        clean_amount = parse_amount(amount, "amount", errors)
        errors.raise_if_any()
        assert clean_title is not None and clean_amount is not None
        rules.ensure_contract_open(contract)
        await rules.ensure_no_pending_change_request(contract)
        milestone = await create_milestone(
            contract, clean_title, clean_description, clean_due, clean_amount
        )
        await events.record(act, contract, EventKind.MILESTONE_ADDED, viewer, milestone=milestone)
    return MilestoneOutcome(contract, milestone)


def edit_values(
    errors: Validation,
    prefix: str,
    title: object,
    description: object,
    due_date: object,
    amount: object,
) -> dict[str, Any]:
    """The fields an edit sets (omitted ones stay; explicit null clears description/dueDate)."""
    changes: dict[str, Any] = {}
    if not isinstance(title, Omitted):
        changes["title"] = parse_title(title, f"{prefix}title", errors)
    if not isinstance(description, Omitted):
        changes["description"] = parse_text(description, f"{prefix}description", errors)
    if not isinstance(due_date, Omitted):
        changes["due_date"] = parse_date(due_date, f"{prefix}dueDate", errors)
    if not isinstance(amount, Omitted):
        changes["amount"] = parse_amount(amount, f"{prefix}amount", errors)
    return changes


async def edit_milestone(
    viewer: User,
    milestone_id: object,
    *,
    title: object = OMITTED,
    description: object = OMITTED,
    due_date: object = OMITTED,
    amount: object = OMITTED,
    expected_version: object = OMITTED,
) -> MilestoneOutcome:
    async with action() as act:
        contract, milestone = await lock_contract_of_milestone(viewer, milestone_id)
        require_role(viewer, contract, Role.CLIENT, "edit milestones")
        errors = Validation()
        changes = edit_values(errors, "", title, description, due_date, amount)
        if not changes:
            errors.add(None, "Give at least one of title, description, dueDate or amount.")
        version = None if isinstance(expected_version, Omitted) else expected_version
        if version is not None and (not isinstance(version, int) or version < 1):
            errors.add("expectedVersion", "Expected version must be a positive integer.")
        errors.raise_if_any()
        rules.ensure_contract_open(contract)
        rules.ensure_upcoming(milestone)
        await rules.ensure_no_pending_change_request(contract)
        rules.ensure_version(milestone, version if isinstance(version, int) else None)
        await change_milestone(milestone, changes)
        await events.record(act, contract, EventKind.MILESTONE_EDITED, viewer, milestone=milestone)
    return MilestoneOutcome(contract, milestone)


async def delete_milestone(viewer: User, milestone_id: object) -> MilestoneOutcome:
    async with action() as act:
        contract, milestone = await lock_contract_of_milestone(viewer, milestone_id)
        require_role(viewer, contract, Role.CLIENT, "delete milestones")
        rules.ensure_contract_open(contract)
        rules.ensure_upcoming(milestone)
        await rules.ensure_no_pending_change_request(contract)
        await remove_milestone(milestone)
        await events.record(act, contract, EventKind.MILESTONE_DELETED, viewer, milestone=milestone)
    return MilestoneOutcome(contract, milestone)


async def activate_milestone(
    viewer: User, milestone_id: object, idempotency_key: object = None
) -> MilestoneOutcome:
    """Fund the milestone into escrow (the available balance pays first)."""
    request = {"milestoneId": milestone_id}
    async with action() as act:
        contract, milestone = await lock_contract_of_milestone(viewer, milestone_id)
        require_role(viewer, contract, Role.CLIENT, "activate milestones")
        key = idempotency_key if isinstance(idempotency_key, str) else None
        replayed = await idempotency.replay(viewer, "activateMilestone", key, request)
        if replayed is not None:
            return MilestoneOutcome(contract, milestone, RoomSnapshot.from_json(replayed))
        errors = Validation()
        key = parse_idempotency_key(idempotency_key, "idempotencyKey", errors)
        errors.raise_if_any()
        rules.ensure_contract_open(contract)
        rules.ensure_upcoming(milestone)
        await rules.ensure_no_pending_change_request(contract)
        await rules.ensure_no_funded_milestone(contract)
        await escrow.fund_milestone(contract, milestone)
        await set_status(milestone, MilestoneStatus.ACTIVE)
        await escrow.assert_conserved(contract, milestone)
        await events.record(
            act,
            contract,
            EventKind.MILESTONE_ACTIVATED,
            viewer,
            milestone=milestone,
            amount=milestone.amount,
        )
        await idempotency.remember(
            viewer,
            "activateMilestone",
            key,
            request,
            lambda: RoomSnapshot.json_of(contract, milestone),
        )
    return MilestoneOutcome(contract, milestone)


async def submit_milestone(
    viewer: User, milestone_id: object, message: object = None
) -> MilestoneOutcome:
    async with action() as act:
        contract, milestone = await lock_contract_of_milestone(viewer, milestone_id)
        require_role(viewer, contract, Role.FREELANCER, "submit work")
        errors = Validation()
        parse_text(message, "message", errors)
        errors.raise_if_any()
        rules.ensure_contract_open(contract)
        rules.ensure_status(milestone, [MilestoneStatus.ACTIVE], ErrorCode.MILESTONE_NOT_ACTIVE)
        await rules.ensure_no_pending_refund_request(contract)
        await set_status(milestone, MilestoneStatus.SUBMITTED)
        await events.record(
            act, contract, EventKind.MILESTONE_SUBMITTED, viewer, milestone=milestone
        )
    return MilestoneOutcome(contract, milestone)


async def reject_submission(
    viewer: User, milestone_id: object, message: object = None
) -> MilestoneOutcome:
    """The work needs more: the milestone stays funded and active."""
    async with action() as act:
        contract, milestone = await lock_contract_of_milestone(viewer, milestone_id)
        require_role(viewer, contract, Role.CLIENT, "reject submissions")
        errors = Validation()
        parse_text(message, "message", errors)
        errors.raise_if_any()
        rules.ensure_contract_open(contract)
        rules.ensure_status(
            milestone, [MilestoneStatus.SUBMITTED], ErrorCode.MILESTONE_NOT_SUBMITTED
        )
        await rules.ensure_no_pending_refund_request(contract)
        await set_status(milestone, MilestoneStatus.ACTIVE)
        await events.record(
            act, contract, EventKind.SUBMISSION_REJECTED, viewer, milestone=milestone
        )
    return MilestoneOutcome(contract, milestone)


async def approve_milestone(
    viewer: User,
    milestone_id: object,
    *,
    end_contract: bool,
    release_amount: object = None,
    idempotency_key: object = None,
    message: object = None,
) -> MilestoneOutcome:
    """Release all or part of the funds; the remainder becomes the available balance."""
    request = {
        "milestoneId": milestone_id,
        "releaseAmount": None if release_amount is None else str(release_amount),
        "endContract": bool(end_contract),
        "message": message if isinstance(message, str) else None,
    }
    async with action() as act:
        contract, milestone = await lock_contract_of_milestone(viewer, milestone_id)
        require_role(viewer, contract, Role.CLIENT, "approve milestones")
        key = idempotency_key if isinstance(idempotency_key, str) else None
        replayed = await idempotency.replay(viewer, "approveMilestone", key, request)
        if replayed is not None:
            return MilestoneOutcome(contract, milestone, RoomSnapshot.from_json(replayed))
        errors = Validation()
        key = parse_idempotency_key(idempotency_key, "idempotencyKey", errors)
        parse_text(message, "message", errors)
        amount = None
        if release_amount is not None and not isinstance(release_amount, Omitted):
            amount = parse_amount(release_amount, "releaseAmount", errors)
        summary = await escrow.ledger_summary(contract, about=[milestone.id])
        funded = summary.of(milestone.id).in_escrow
        if (
            amount is not None
            and milestone.status
            in (
                MilestoneStatus.ACTIVE,
                MilestoneStatus.SUBMITTED,
            )
            and amount > funded
        ):
            errors.add("releaseAmount", "Release amount must be at most the funded amount.")
        errors.raise_if_any()
        rules.ensure_contract_open(contract)
        rules.ensure_status(
            milestone,
            [MilestoneStatus.ACTIVE, MilestoneStatus.SUBMITTED],
            ErrorCode.MILESTONE_NOT_ACTIVE,
        )
        await rules.ensure_no_pending_refund_request(contract)
        released = funded if amount is None else amount
        await escrow.release_to_freelancer(contract, milestone, released)
        await set_status(milestone, MilestoneStatus.RELEASED)
        await escrow.assert_conserved(contract, milestone)
        await events.record(
            act,
            contract,
            EventKind.MILESTONE_APPROVED,
            viewer,
            milestone=milestone,
            amount=released,
        )
        if end_contract:
            await end_contract_now(act, contract, viewer)
        await idempotency.remember(
            viewer,
            "approveMilestone",
            key,
            request,
            lambda: RoomSnapshot.json_of(contract, milestone),
        )
    return MilestoneOutcome(contract, milestone)
