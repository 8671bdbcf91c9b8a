"""Change requests: the freelancer proposes ADD/EDIT/DELETE changes, the client answers."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from milestones.domain import events, rules
from milestones.domain.access import (
    Role,
    lock_contract,
    lock_contract_of_change_request,
    require_role,
)
from milestones.domain.errors import ErrorCode, Validation, refuse
from milestones.domain.milestones import (
    change_milestone,
    create_milestone,
    edit_values,
    remove_milestone,
)
from milestones.domain.transaction import action
from milestones.domain.values import OMITTED, Omitted, parse_text
from milestones.ids import decode
from milestones.models import ChangeRequest, Contract, Milestone, MilestoneChange, User
from milestones.models.enums import ChangeKind, ChangeRequestStatus, EventKind, MilestoneStatus

MAX_CHANGES = 50


@dataclass
class ChangeInput:
    kind: ChangeKind
    milestone_id: object = OMITTED
    title: object = OMITTED
    description: object = OMITTED
    due_date: object = OMITTED
    amount: object = OMITTED


@dataclass
class ChangeRequestOutcome:
    contract: Contract
    change_request: ChangeRequest


async def _validated_changes(
    contract: Contract, changes: list[ChangeInput], errors: Validation
) -> list[tuple[MilestoneChange, Milestone | None]]:
    """Unsaved change rows (with the milestone each concerns) for a valid request."""
    if not changes:
        errors.add("changes", "A change request needs at least one change.")
    if len(changes) > MAX_CHANGES:
        errors.add("changes", f"A change request holds at most {MAX_CHANGES} changes.")
    live = {m.id: m for m in await Milestone.filter(contract_id=contract.id, deleted_at=None)}
    seen: set[int] = set()
    rows: list[tuple[MilestoneChange, Milestone | None]] = []
    for index, change in enumerate(changes):
        prefix = f"changes.{index}."
        given = {
            "title": change.title,
            "description": change.description,
            "dueDate": change.due_date,
            "amount": change.amount,
        }
        if change.kind is ChangeKind.DELETE:
            for name, value in given.items():
                if value not in (None, OMITTED):
                    errors.add(f"{prefix}{name}", "A DELETE change takes only milestoneId.")
            values: dict[str, object] = {}
        else:
            values = edit_values(
                errors, prefix, change.title, change.description, change.due_date, change.amount
            )
        milestone: Milestone | None = None
        given_id = change.milestone_id not in (None, OMITTED)
        if change.kind is ChangeKind.ADD:
            if given_id:
                errors.add(f"{prefix}milestoneId", "An ADD change creates a new milestone.")
            if "title" not in values:
                errors.add(f"{prefix}title", "Title is required.")
            if "amount" not in values:
                errors.add(f"{prefix}amount", "Amount is required.")
        else:
            pk = decode(change.milestone_id, "Milestone")
            milestone = live.get(pk) if pk is not None else None
            if milestone is None:
                errors.add(f"{prefix}milestoneId", "No milestone of this contract has this ID.")
            elif milestone.id in seen:
                errors.add(
                    f"{prefix}milestoneId", "Another change already concerns this milestone."
                )
            else:
                seen.add(milestone.id)
            if change.kind is ChangeKind.EDIT and not values:
                errors.add(prefix.rstrip("."), "An EDIT change must change at least one field.")
        row = MilestoneChange(
            index=index,
            kind=change.kind,
            milestone_id=milestone.id if milestone else None,
            title=values.get("title"),
            description=values.get("description"),
            due_date=values.get("due_date"),
            amount=values.get("amount"),
            sets_description="description" in values,
            sets_due_date="due_date" in values,
        )
        rows.append((row, milestone))
    return rows


def _ensure_changes_apply(rows: list[tuple[MilestoneChange, Milestone | None]]) -> None:
    """Edits and deletes concern upcoming milestones only."""
    for row, milestone in rows:
        if milestone is not None and milestone.status is not MilestoneStatus.UPCOMING:
            raise refuse(
                ErrorCode.MILESTONE_NOT_UPCOMING,
                f"The milestone “{milestone.title}” is {milestone.status.lower()}: "
                "only upcoming milestones can change.",
                f"changes.{row.index}.milestoneId",
            )


async def request_milestone_changes(
    viewer: User, contract_id: object, changes: list[ChangeInput], message: object = None
) -> ChangeRequestOutcome:
    async with action() as act:
        contract = await lock_contract(viewer, decode(contract_id, "Contract"), "contractId")
        require_role(viewer, contract, Role.FREELANCER, "request milestone changes")
        errors = Validation()
        clean_message = parse_text(message, "message", errors)
        rows = await _validated_changes(contract, changes, errors)
        errors.raise_if_any()
        rules.ensure_contract_open(contract)
        _ensure_changes_apply(rows)
        await rules.ensure_no_pending_change_request(contract)
        change_request = await ChangeRequest.create(
            contract_id=contract.id, requested_by_id=viewer.id, message=clean_message
        )
        for row, _ in rows:
            row.change_request_id = change_request.id
        await MilestoneChange.bulk_create([row for row, _ in rows])
        await events.record(
            act,
            contract,
            EventKind.CHANGE_REQUEST_SUBMITTED,
            viewer,
            change_request=change_request,
        )
    return ChangeRequestOutcome(contract, change_request)


async def _apply(contract: Contract, change_request: ChangeRequest) -> None:
    """All changes at once, in the order they were requested."""
    changes = await MilestoneChange.filter(change_request_id=change_request.id).order_by("index")
    milestones = {
        m.id: m
        for m in await Milestone.filter(
            id__in=[c.milestone_id for c in changes if c.milestone_id], deleted_at=None
        )
    }
    _ensure_changes_apply([(c, milestones.get(c.milestone_id or 0)) for c in changes])
    for change in changes:
        if change.kind is ChangeKind.ADD:
            assert change.title is not None and change.amount is not None
            created = await create_milestone(
                contract, change.title, change.description, change.due_date, change.amount
            )
            change.milestone_id = created.id
            await change.save(update_fields=["milestone_id"])
            continue
        milestone = milestones.get(change.milestone_id or 0)
        if milestone is None:
            raise refuse(
                ErrorCode.MILESTONE_NOT_UPCOMING,
                "A milestone this request changes no longer exists.",
                f"changes.{change.index}.milestoneId",
            )
        if change.kind is ChangeKind.DELETE:
            await remove_milestone(milestone)
            continue
        values: dict[str, object] = {}
        if change.title is not None:
            values["title"] = change.title
        if change.amount is not None:
            values["amount"] = change.amount
        if change.sets_description:
            values["description"] = change.description
        if change.sets_due_date:
            values["due_date"] = change.due_date
        await change_milestone(milestone, values)


async def respond_to_change_request(
    viewer: User, change_request_id: object, accept: bool, message: object = None
) -> ChangeRequestOutcome:
    async with action() as act:
        contract, change_request = await lock_contract_of_change_request(viewer, change_request_id)
        require_role(viewer, contract, Role.CLIENT, "answer change requests")
        errors = Validation()
        clean_message = parse_text(message, "message", errors)
        errors.raise_if_any()
        rules.ensure_contract_open(contract)
        _ensure_pending(change_request)
        if accept:
            await _apply(contract, change_request)
        change_request.status = (
            ChangeRequestStatus.ACCEPTED if accept else ChangeRequestStatus.DECLINED
        )
        change_request.responded_at = dt.datetime.now(dt.UTC)
        change_request.response_message = clean_message
        await change_request.save()
        await events.record(
            act,
            contract,
            EventKind.CHANGE_REQUEST_ACCEPTED if accept else EventKind.CHANGE_REQUEST_DECLINED,
            viewer,
            change_request=change_request,
        )
    return ChangeRequestOutcome(contract, change_request)


async def withdraw_change_request(viewer: User, change_request_id: object) -> ChangeRequestOutcome:
    async with action() as act:
        contract, change_request = await lock_contract_of_change_request(viewer, change_request_id)
        require_role(viewer, contract, Role.FREELANCER, "withdraw change requests")
        rules.ensure_contract_open(contract)
        _ensure_pending(change_request)
        change_request.status = ChangeRequestStatus.WITHDRAWN
        change_request.responded_at = dt.datetime.now(dt.UTC)
        await change_request.save()
        await events.record(
            act,
            contract,
            EventKind.CHANGE_REQUEST_WITHDRAWN,
            viewer,
            change_request=change_request,
        )
    return ChangeRequestOutcome(contract, change_request)


def _ensure_pending(change_request: ChangeRequest) -> None:
    if change_request.status is not ChangeRequestStatus.PENDING:
        raise refuse(
            ErrorCode.NOT_PENDING,
            f"The change request is {change_request.status.lower()}, no longer pending.",
        )


__all__ = [
    "ChangeInput",
    "ChangeRequestOutcome",
    "Omitted",
    "request_milestone_changes",
    "respond_to_change_request",
    "withdraw_change_request",
]
