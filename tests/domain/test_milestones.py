"""Milestone actions, called with typed commands: roles, the order of refusals, the effects."""

from __future__ import annotations

import datetime as dt

from milestones.domain import commands, milestones
from milestones.domain.commands import MilestoneEdit
from milestones.domain.errors import ErrorCode, Problem
from milestones.domain.escrow import ledger_summary
from milestones.domain.values import OMITTED
from milestones.models import ContractEvent, Milestone, Notification, RefundRequest
from milestones.models.enums import EventKind, MilestoneStatus
from tests.domain.conftest import MakeRoom, People, refused

BAD_TITLE = Problem(ErrorCode.VALIDATION, "Title must not be empty.", "title")


async def test_add_appends_an_upcoming_milestone_and_tells_the_freelancer(
    people: People, make_room: MakeRoom
) -> None:
    room = await make_room(100)
    outcome = await milestones.add_milestone(
        people.client,
        commands.AddMilestone(
            contract_id=room.contract.id,
            title="Launch",
            amount=2500,
            due_date=dt.date(2030, 1, 31),
            description="Go live",
        ),
    )
    assert outcome.milestone is not None
    assert (outcome.milestone.position, outcome.milestone.status) == (2, MilestoneStatus.UPCOMING)
    notification = (
        await Notification.filter(recipient_id=people.freelancer.id).order_by("-seq").first()
    )
    assert notification is not None and notification.kind is EventKind.MILESTONE_ADDED


async def test_only_the_client_adds_and_outsiders_find_nothing(
    people: People, make_room: MakeRoom
) -> None:
    room = await make_room()
    add = commands.AddMilestone(contract_id=room.contract.id, title="T", amount=1)
    assert await refused(milestones.add_milestone(people.freelancer, add)) == [
        (ErrorCode.FORBIDDEN, None)
    ]
    assert await refused(milestones.add_milestone(people.outsider, add)) == [
        (ErrorCode.NOT_FOUND, "contract_id")
    ]
    missing = commands.AddMilestone(contract_id=None, title="T", amount=1)
    assert await refused(milestones.add_milestone(people.client, missing)) == [
        (ErrorCode.NOT_FOUND, "contract_id")
    ]


async def test_a_commands_problems_answer_after_the_role_and_before_the_state(
    people: People, make_room: MakeRoom
) -> None:
    room = await make_room(100)
    await milestones.activate_milestone(
        people.client, commands.ActivateMilestone(milestone_id=room.milestone_id(0))
    )
    bad = commands.EditMilestone(
        milestone_id=room.milestone_id(0), edit=MilestoneEdit(title=""), problems=(BAD_TITLE,)
    )
    # the milestone is active (a state refusal) but the bad input answers first
    assert await refused(milestones.edit_milestone(people.client, bad)) == [
        (ErrorCode.VALIDATION, "title")
    ]
    # and the role before both
    assert await refused(milestones.edit_milestone(people.freelancer, bad)) == [
        (ErrorCode.FORBIDDEN, None)
    ]


async def test_edit_sets_what_was_sent_and_clears_an_explicit_none(
    people: People, make_room: MakeRoom
) -> None:
    room = await make_room(100)
    await milestones.edit_milestone(
        people.client,
        commands.EditMilestone(
            milestone_id=room.milestone_id(0),
            edit=MilestoneEdit(description="Draft", due_date=dt.date(2030, 5, 1)),
        ),
    )
    outcome = await milestones.edit_milestone(
        people.client,
        commands.EditMilestone(
            milestone_id=room.milestone_id(0),
            edit=MilestoneEdit(description=None, amount=300),
            expected_version=2,
        ),
    )
    milestone = outcome.milestone
    assert milestone is not None
    assert (milestone.title, milestone.description, milestone.amount) == ("M1", None, 300)
    assert milestone.due_date == dt.date(2030, 5, 1)
    assert MilestoneEdit(title="x").changes() == {"title": "x"}
    assert MilestoneEdit(due_date=None, amount=OMITTED).changes() == {"due_date": None}
    stale = commands.EditMilestone(
        milestone_id=room.milestone_id(0), edit=MilestoneEdit(title="x"), expected_version=1
    )
    assert await refused(milestones.edit_milestone(people.client, stale)) == [
        (ErrorCode.VERSION_CONFLICT, "expected_version")
    ]


async def test_delete_closes_the_gap_in_positions(people: People, make_room: MakeRoom) -> None:
    room = await make_room(1, 2, 3)
    await milestones.delete_milestone(
        people.client, commands.DeleteMilestone(milestone_id=room.milestone_id(0))
    )
    live = await Milestone.filter(contract_id=room.contract.id, deleted_at=None).order_by(
        "position"
    )
    assert [(m.title, m.position) for m in live] == [("M2", 1), ("M3", 2)]


async def test_one_funded_milestone_at_a_time(people: People, make_room: MakeRoom) -> None:
    room = await make_room(100, 200)
    await milestones.activate_milestone(
        people.client, commands.ActivateMilestone(milestone_id=room.milestone_id(0))
    )
    second = commands.ActivateMilestone(milestone_id=room.milestone_id(1))
    assert await refused(milestones.activate_milestone(people.client, second)) == [
        (ErrorCode.ANOTHER_MILESTONE_ACTIVE, None)
    ]


async def test_submit_reject_approve_with_notes_and_a_partial_release(
    people: People, make_room: MakeRoom
) -> None:
    room = await make_room(1000, 300)
    m0 = room.milestone_id(0)
    await milestones.activate_milestone(people.client, commands.ActivateMilestone(milestone_id=m0))
    await milestones.submit_milestone(
        people.freelancer, commands.SubmitMilestone(milestone_id=m0, message="Done")
    )
    await milestones.reject_submission(
        people.client, commands.RejectSubmission(milestone_id=m0, message="Not yet")
    )
    too_much = commands.ApproveMilestone(milestone_id=m0, end_contract=False, release_amount=1001)
    assert await refused(milestones.approve_milestone(people.client, too_much)) == [
        (ErrorCode.VALIDATION, "release_amount")
    ]
    await milestones.approve_milestone(
        people.client,
        commands.ApproveMilestone(
            milestone_id=m0, end_contract=False, release_amount=400, message="Thanks"
        ),
    )
    escrow = (await ledger_summary(room.contract)).escrow
    assert (escrow.released, escrow.available) == (400, 600)
    notes = [
        (e.kind, e.note)
        for e in await ContractEvent.filter(contract_id=room.contract.id).order_by("seq")
    ]
    assert notes[-3:] == [
        (EventKind.MILESTONE_SUBMITTED, "Done"),
        (EventKind.SUBMISSION_REJECTED, "Not yet"),
        (EventKind.MILESTONE_APPROVED, "Thanks"),
    ]


async def test_approve_and_end_asks_back_what_is_left(people: People, make_room: MakeRoom) -> None:
    room = await make_room(100)
    m0 = room.milestone_id(0)
    await milestones.activate_milestone(people.client, commands.ActivateMilestone(milestone_id=m0))
    outcome = await milestones.approve_milestone(
        people.client,
        commands.ApproveMilestone(milestone_id=m0, end_contract=True, release_amount=40),
    )
    assert outcome.contract.status == "ENDED"
    escrow = (await ledger_summary(room.contract)).escrow
    assert (escrow.released, escrow.refunded, escrow.held) == (40, 0, 60)
    asked = await RefundRequest.get(contract_id=room.contract.id)
    assert (asked.status, asked.amount, asked.milestone_id) == ("PENDING", 60, None)
