"""Change request actions: propose, accept (all at once), decline, withdraw."""

from __future__ import annotations

from milestones.domain import change_requests, commands, milestones
from milestones.domain.commands import Change, MilestoneEdit
from milestones.domain.errors import ErrorCode
from milestones.models import Milestone
from milestones.models.enums import ChangeKind, ChangeRequestStatus
from tests.domain.conftest import MakeRoom, People, refused


def _request(contract_id: int, *changes: Change) -> commands.RequestMilestoneChanges:
    return commands.RequestMilestoneChanges(contract_id=contract_id, changes=changes, message="Hi")


async def test_an_accepted_request_applies_every_change(
    people: People, make_room: MakeRoom
) -> None:
    room = await make_room(100, 200)
    requested = await change_requests.request_milestone_changes(
        people.freelancer,
        _request(
            room.contract.id,
            Change(ChangeKind.ADD, edit=MilestoneEdit(title="Extra", amount=50)),
            Change(ChangeKind.EDIT, room.milestone_id(1), MilestoneEdit(amount=250)),
            Change(ChangeKind.DELETE, room.milestone_id(0)),
        ),
    )
    assert requested.change_request is not None
    add = commands.AddMilestone(contract_id=room.contract.id, title="T", amount=1)
    assert await refused(milestones.add_milestone(people.client, add)) == [
        (ErrorCode.CHANGE_REQUEST_PENDING, None)
    ]
    await change_requests.respond_to_change_request(
        people.client,
        commands.RespondToChangeRequest(change_request_id=requested.change_request.id, accept=True),
    )
    live = await Milestone.filter(contract_id=room.contract.id, deleted_at=None).order_by(
        "position"
    )
    assert [(m.title, m.amount, m.position) for m in live] == [("M2", 250, 1), ("Extra", 50, 2)]


async def test_changes_must_name_this_contracts_milestones_once(
    people: People, make_room: MakeRoom
) -> None:
    room = await make_room(100)
    other = await make_room(100)
    request = _request(
        room.contract.id,
        Change(ChangeKind.EDIT, other.milestone_id(0), MilestoneEdit(title="x")),
        Change(ChangeKind.DELETE, room.milestone_id(0)),
        Change(ChangeKind.EDIT, room.milestone_id(0), MilestoneEdit(title="y")),
        Change(ChangeKind.DELETE, None),
    )
    assert await refused(change_requests.request_milestone_changes(people.freelancer, request)) == [
        (ErrorCode.VALIDATION, "changes.0.milestone_id"),
        (ErrorCode.VALIDATION, "changes.2.milestone_id"),
        (ErrorCode.VALIDATION, "changes.3.milestone_id"),
    ]


async def test_only_upcoming_milestones_change(people: People, make_room: MakeRoom) -> None:
    room = await make_room(100)
    await milestones.activate_milestone(
        people.client, commands.ActivateMilestone(milestone_id=room.milestone_id(0))
    )
    request = _request(room.contract.id, Change(ChangeKind.DELETE, room.milestone_id(0)))
    assert await refused(change_requests.request_milestone_changes(people.freelancer, request)) == [
        (ErrorCode.MILESTONE_NOT_UPCOMING, "changes.0.milestone_id")
    ]


async def test_withdraw_and_answer_once(people: People, make_room: MakeRoom) -> None:
    room = await make_room(100)
    requested = await change_requests.request_milestone_changes(
        people.freelancer,
        _request(room.contract.id, Change(ChangeKind.DELETE, room.milestone_id(0))),
    )
    assert requested.change_request is not None
    withdraw = commands.WithdrawChangeRequest(change_request_id=requested.change_request.id)
    assert await refused(change_requests.withdraw_change_request(people.client, withdraw)) == [
        (ErrorCode.FORBIDDEN, None)
    ]
    outcome = await change_requests.withdraw_change_request(people.freelancer, withdraw)
    assert outcome.change_request is not None
    assert outcome.change_request.status is ChangeRequestStatus.WITHDRAWN
    answer = commands.RespondToChangeRequest(
        change_request_id=requested.change_request.id, accept=False
    )
    assert await refused(change_requests.respond_to_change_request(people.client, answer)) == [
        (ErrorCode.NOT_PENDING, None)
    ]
