"""Milestone actions: add, edit, delete (upcoming only), activate, submit, reject, approve."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tortoise import timezone
from tortoise.expressions import F

from milestones.domain import clock, escrow, rules
from milestones.domain.access import Role
from milestones.domain.acting import Act, contract_action, the_contract, the_milestone
from milestones.domain.bonuses import pay_bonus
from milestones.domain.bulk import instance_update
from milestones.domain.commands import (
    ActivateMilestone,
    AddMilestone,
    ApproveMilestone,
    DeleteMilestone,
    EditMilestone,
    RejectSubmission,
    SubmitMilestone,
)
from milestones.domain.contracts import end_contract_now
from milestones.domain.errors import Problem, refuse_if
from milestones.domain.outcome import Outcome
from milestones.domain.settlement import set_status, settled, status_change
from milestones.domain.submissions import answer_submission, record_submission, submission_answer
from milestones.domain.transaction import Action, send_or_carry
from milestones.domain.windows import DEADLINES_CHANNEL, windows
from milestones.models import Contract, Milestone
from milestones.models.enums import EventKind, MilestoneStatus, SubmissionOutcome

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


async def change_milestone(
    milestone: Milestone, changes: dict[str, Any], carry: Action | None = None
) -> None:
    """`changes` (field name -> value) on the milestone, its version bumped. `carry`: on
    PostgreSQL, the action whose next event's statement writes them (`Action.carried`)."""
    for name, value in changes.items():
        setattr(milestone, name, value)
    milestone.version += 1
    milestone.updated_at = timezone.now()  # what save() would stamp (auto_now)
    # Only the changed columns: never write back a position another change has moved.
    columns = [*changes, "version", "updated_at"]
    await send_or_carry([instance_update(milestone, columns)], carry)


async def remove_milestone(milestone: Milestone) -> None:
    """Soft-delete (history keeps pointing at it, as DELETED) and close the gap in positions."""
    await milestone.refresh_from_db(fields=["position"])  # earlier changes may have moved it
    milestone.deleted_at = dt.datetime.now(dt.UTC)
    milestone.status = MilestoneStatus.DELETED
    milestone.version += 1
    await milestone.save(update_fields=["deleted_at", "status", "version", "updated_at"])
    await Milestone.filter(
        contract_id=milestone.contract_id, deleted_at=None, position__gt=milestone.position
    ).update(position=F("position") - 1)


# The actions.


@contract_action(the_contract, role=Role.CLIENT, doing="add milestones")
async def add_milestone(act: Act[AddMilestone, Contract]) -> Outcome:
    refuse_if(rules.add_milestone_refusal(await act.room()))
    command = act.command
    milestone = await create_milestone(
        act.contract, command.title, command.description, command.due_date, command.amount
    )
    await act.record(EventKind.MILESTONE_ADDED, milestone=milestone)
    return Outcome(act.contract, milestone)


@contract_action(the_milestone, role=Role.CLIENT, doing="edit milestones")
async def edit_milestone(act: Act[EditMilestone, Milestone]) -> Outcome:
    milestone = act.target
    refuse_if(
        rules.edit_milestone_refusal(await act.room(), milestone, act.command.expected_version)
    )
    await change_milestone(milestone, act.command.edit.changes(), carry=act.transaction)
    await act.record(EventKind.MILESTONE_EDITED, milestone=milestone)
    return Outcome(act.contract, milestone)


@contract_action(the_milestone, role=Role.CLIENT, doing="delete milestones")
async def delete_milestone(act: Act[DeleteMilestone, Milestone]) -> Outcome:
    milestone = act.target
    refuse_if(rules.delete_milestone_refusal(await act.room(), milestone))
    await remove_milestone(milestone)
    await act.record(EventKind.MILESTONE_DELETED, milestone=milestone)
    return Outcome(act.contract, milestone)


@contract_action(the_milestone, role=Role.CLIENT, doing="activate milestones")
async def activate_milestone(act: Act[ActivateMilestone, Milestone]) -> Outcome:
    """Fund the milestone into escrow (the available balance pays first)."""
    contract, milestone = act.contract, act.target
    refuse_if(rules.activate_refusal(await act.room(), milestone))
    # The ledger entries and the milestone's new state go with the event (PostgreSQL: its
    # statement carries them); the money is checked once they are written, before commit.
    activated = status_change(milestone, MilestoneStatus.ACTIVE, activated_at=clock.now())
    await escrow.fund_milestone(
        contract, milestone, act.ledger_before(), [activated], carry=act.transaction
    )
    await act.record(EventKind.MILESTONE_ACTIVATED, milestone=milestone, amount=milestone.amount)
    await escrow.assert_conserved(contract, milestone)
    return act.leaves_requests(Outcome(contract, milestone))


async def _move(
    act: Act[SubmitMilestone, Milestone] | Act[RejectSubmission, Milestone],
    refusal: Problem | None,
    status: MilestoneStatus,
    kind: EventKind,
) -> Outcome:
    """Move the funded milestone between ACTIVE and SUBMITTED; the message is the note.
    Submitting starts the client's review window; rejecting stops it."""
    refuse_if(refusal)
    times: dict[str, Any] = {"review_deadline": None, "review_remind_at": None}
    if status is MilestoneStatus.SUBMITTED:
        now, window = clock.now(), windows().review
        deadline = now + window
        times = {
            "submitted_at": now,
            "review_deadline": deadline,
            "review_remind_at": windows().remind_at(deadline, window),
        }
        act.transaction.wake(DEADLINES_CHANNEL, 0)
    await set_status(act.target, status, carry=act.transaction, **times)
    await act.record(kind, milestone=act.target, note=act.command.message)
    return act.leaves_requests(Outcome(act.contract, act.target))


@contract_action(the_milestone, role=Role.FREELANCER, doing="submit work", members=True)
async def submit_milestone(act: Act[SubmitMilestone, Milestone]) -> Outcome:
    refusal = rules.submit_refusal(await act.room(), act.target)
    outcome = await _move(act, refusal, MilestoneStatus.SUBMITTED, EventKind.MILESTONE_SUBMITTED)
    milestone, command = act.target, act.command
    assert milestone.submitted_at is not None
    await record_submission(
        milestone, act.viewer, command.message, command.attachments, milestone.submitted_at
    )
    return outcome


@contract_action(the_milestone, role=Role.CLIENT, doing="reject submissions")
async def reject_submission(act: Act[RejectSubmission, Milestone]) -> Outcome:
    """The work needs more: the milestone stays funded and active."""
    refusal = rules.reject_submission_refusal(await act.room(), act.target)
    outcome = await _move(act, refusal, MilestoneStatus.ACTIVE, EventKind.SUBMISSION_REJECTED)
    await answer_submission(
        act.target, SubmissionOutcome.REJECTED, clock.now(), act.command.message
    )
    return outcome


async def _release_within_funded(act: Act[ApproveMilestone, Milestone]) -> list[Problem]:
    milestone, amount = act.target, act.command.release_amount
    if amount is None or not rules.is_funded(milestone):
        return []
    problem = rules.release_within_funded(amount, (await act.money_of(milestone)).in_escrow)
    return [problem] if problem is not None else []


@contract_action(
    the_milestone, role=Role.CLIENT, doing="approve milestones", validate=_release_within_funded
)
async def approve_milestone(act: Act[ApproveMilestone, Milestone]) -> Outcome:
    """Release all or part of the funds (the remainder becomes the available balance), and
    pay a bonus on top when asked."""
    contract, milestone, command = act.contract, act.target, act.command
    refuse_if(rules.approve_refusal(await act.room(), milestone))
    funded = (await act.money_of(milestone)).in_escrow
    released = funded if command.release_amount is None else command.release_amount
    # The release, the milestone's new state and its submission's outcome go with the event
    # (as in activate_milestone).
    answered = submission_answer(
        milestone, SubmissionOutcome.APPROVED, clock.now(), command.message
    )
    await escrow.release_to_freelancer(
        contract,
        milestone,
        released,
        [settled(milestone, MilestoneStatus.RELEASED), answered],
        carry=act.transaction,
    )
    await act.record(
        EventKind.MILESTONE_APPROVED, milestone=milestone, amount=released, note=command.message
    )
    await escrow.assert_conserved(contract, milestone)
    if command.bonus_amount is not None:
        await pay_bonus(act, command.bonus_amount, command.message, milestone)
    if command.end_contract:
        await end_contract_now(act)
        return Outcome(contract, milestone)
    return act.leaves_requests(Outcome(contract, milestone))
