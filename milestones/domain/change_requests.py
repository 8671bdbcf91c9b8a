"""Change requests: the freelancer proposes ADD/EDIT/DELETE changes, the client answers."""

from __future__ import annotations

import datetime as dt
from typing import Any

from milestones.domain import rules
from milestones.domain.access import Role
from milestones.domain.acting import Act, contract_action, the_change_request, the_contract
from milestones.domain.commands import (
    Change,
    RequestMilestoneChanges,
    RespondToChangeRequest,
    WithdrawChangeRequest,
)
from milestones.domain.errors import ErrorCode, Problem, refuse, refuse_if
from milestones.domain.milestones import change_milestone, create_milestone, remove_milestone
from milestones.domain.outcome import Outcome
from milestones.models import ChangeRequest, Contract, Milestone, MilestoneChange
from milestones.models.enums import ChangeKind, ChangeRequestStatus, EventKind

MAX_CHANGES = 50


async def _changed_milestones(
    act: Act[RequestMilestoneChanges, Contract],
) -> tuple[list[Problem], list[tuple[int, Milestone]]]:
    """The milestone each EDIT or DELETE concerns (index, milestone), and the problems of
    those that name none of this contract's milestones or one already changed."""
    live = {m.id: m for m in await Milestone.filter(contract_id=act.contract.id, deleted_at=None)}
    problems: list[Problem] = []
    changed: list[tuple[int, Milestone]] = []
    seen: set[int] = set()
    for index, change in enumerate(act.command.changes):
        if change.kind is ChangeKind.ADD:
            continue
        field = f"changes.{index}.milestone_id"
        milestone = live.get(change.milestone_id) if change.milestone_id is not None else None
        if milestone is None:
            message = "No milestone of this contract has this ID."
        elif milestone.id in seen:
            message = "Another change already concerns this milestone."
        else:
            seen.add(milestone.id)
            changed.append((index, milestone))
            continue
        problems.append(Problem(ErrorCode.VALIDATION, message, field))
    return problems, changed


async def _validate_changes(act: Act[RequestMilestoneChanges, Contract]) -> list[Problem]:
    problems, changed = await _changed_milestones(act)
    act.scratch["changed"] = changed
    return problems


@contract_action(
    the_contract,
    role=Role.FREELANCER,
    doing="request milestone changes",
    validate=_validate_changes,
)
async def request_milestone_changes(act: Act[RequestMilestoneChanges, Contract]) -> Outcome:
    contract, command = act.contract, act.command
    refuse_if(rules.request_changes_refusal(await act.room(), act.scratch["changed"]))
    change_request = await ChangeRequest.create(
        contract_id=contract.id, requested_by_id=act.viewer.id, message=command.message
    )
    await MilestoneChange.bulk_create(
        [_change_row(change_request, index, change) for index, change in enumerate(command.changes)]
    )
    await act.record(
        EventKind.CHANGE_REQUEST_SUBMITTED, change_request=change_request, note=command.message
    )
    return Outcome(contract, change_request=change_request)


def _change_row(change_request: ChangeRequest, index: int, change: Change) -> MilestoneChange:
    values = change.edit.changes()
    return MilestoneChange(
        change_request_id=change_request.id,
        index=index,
        kind=change.kind,
        milestone_id=change.milestone_id if change.kind is not ChangeKind.ADD else None,
        title=values.get("title"),
        description=values.get("description"),
        due_date=values.get("due_date"),
        amount=values.get("amount"),
        sets_description="description" in values,
        sets_due_date="due_date" in values,
    )


async def _apply(contract: Contract, change_request: ChangeRequest) -> None:
    """All changes at once, in the order they were requested."""
    changes = await MilestoneChange.filter(change_request_id=change_request.id).order_by("index")
    milestones = {
        m.id: m
        for m in await Milestone.filter(
            id__in=[c.milestone_id for c in changes if c.milestone_id], deleted_at=None
        )
    }
    refuse_if(
        rules.changes_apply(
            (c.index, milestones[c.milestone_id]) for c in changes if c.milestone_id in milestones
        )
    )
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
                f"changes.{change.index}.milestone_id",
            )
        if change.kind is ChangeKind.DELETE:
            await remove_milestone(milestone)
            continue
        await change_milestone(milestone, _stored_edit(change))


def _stored_edit(change: MilestoneChange) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if change.title is not None:
        values["title"] = change.title
    if change.amount is not None:
        values["amount"] = change.amount
    if change.sets_description:
        values["description"] = change.description
    if change.sets_due_date:
        values["due_date"] = change.due_date
    return values


async def _answer(
    act: Act[Any, ChangeRequest], status: ChangeRequestStatus, message: str | None
) -> None:
    change_request = act.target
    change_request.status = status
    change_request.responded_at = dt.datetime.now(dt.UTC)
    change_request.response_message = message
    await change_request.save()


@contract_action(the_change_request, role=Role.CLIENT, doing="answer change requests")
async def respond_to_change_request(act: Act[RespondToChangeRequest, ChangeRequest]) -> Outcome:
    contract, change_request, command = act.contract, act.target, act.command
    refuse_if(rules.answer_refusal(contract, change_request))
    if command.accept:
        await _apply(contract, change_request)
    accepted = ChangeRequestStatus.ACCEPTED if command.accept else ChangeRequestStatus.DECLINED
    await _answer(act, accepted, command.message)
    await act.record(
        EventKind.CHANGE_REQUEST_ACCEPTED if command.accept else EventKind.CHANGE_REQUEST_DECLINED,
        change_request=change_request,
        note=command.message,
    )
    return Outcome(contract, change_request=change_request)


@contract_action(the_change_request, role=Role.FREELANCER, doing="withdraw change requests")
async def withdraw_change_request(act: Act[WithdrawChangeRequest, ChangeRequest]) -> Outcome:
    refuse_if(rules.answer_refusal(act.contract, act.target))
    await _answer(act, ChangeRequestStatus.WITHDRAWN, None)
    await act.record(EventKind.CHANGE_REQUEST_WITHDRAWN, change_request=act.target)
    return Outcome(act.contract, change_request=act.target)
