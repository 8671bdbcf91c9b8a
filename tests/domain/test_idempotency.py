"""One idempotency helper for every action: the parsed command decides, refusals are not kept."""

from __future__ import annotations

from milestones.domain import commands, contracts, milestones, notifications, refunds
from milestones.domain.errors import ErrorCode, Problem
from milestones.domain.idempotency import command_digest
from milestones.models import ContractEvent, IdempotencyRecord, RefundRequest
from milestones.models.enums import EventKind
from tests.domain.conftest import MakeRoom, People, refused


def test_the_digest_is_of_the_parsed_command() -> None:
    first = commands.ApproveMilestone(milestone_id=1, end_contract=False, release_amount=5000)
    assert command_digest(first) == command_digest(
        commands.ApproveMilestone(milestone_id=1, end_contract=False, release_amount=5000)
    )
    for other in (
        commands.ApproveMilestone(milestone_id=1, end_contract=True, release_amount=5000),
        commands.ApproveMilestone(milestone_id=2, end_contract=False, release_amount=5000),
        commands.ApproveMilestone(milestone_id=1, end_contract=False),
        commands.ApproveMilestone(
            milestone_id=1,
            end_contract=False,
            release_amount=5000,
            problems=(Problem(ErrorCode.VALIDATION, "bad", "message"),),
        ),
    ):
        assert command_digest(other) != command_digest(first)
    # the same fields of another action are another command
    assert command_digest(commands.ActivateMilestone(milestone_id=1)) != command_digest(
        commands.DeleteMilestone(milestone_id=1)
    )


async def test_a_replay_returns_the_first_outcome_with_its_room(
    people: People, make_room: MakeRoom
) -> None:
    room = await make_room(100)
    activate = commands.ActivateMilestone(milestone_id=room.milestone_id(0), idempotency_key="k")
    first = await milestones.activate_milestone(people.client, activate)
    await milestones.submit_milestone(
        people.freelancer, commands.SubmitMilestone(milestone_id=room.milestone_id(0))
    )

    again = await milestones.activate_milestone(people.client, activate)

    assert first.room is None and again.room is not None
    assert again.milestone is not None and again.milestone.status == "ACTIVE"
    assert again.room.summary.escrow.held == 100
    kinds = [e.kind for e in await ContractEvent.filter(contract_id=room.contract.id)]
    assert kinds.count(EventKind.MILESTONE_ACTIVATED) == 1


async def test_conflict_comes_before_validation_and_after_the_role(
    people: People, make_room: MakeRoom
) -> None:
    room = await make_room(100, 200)
    await milestones.activate_milestone(
        people.client,
        commands.ActivateMilestone(milestone_id=room.milestone_id(0), idempotency_key="k"),
    )
    other = commands.ActivateMilestone(
        milestone_id=room.milestone_id(1),
        idempotency_key="k",
        problems=(Problem(ErrorCode.VALIDATION, "bad key?", "idempotency_key"),),
    )
    assert await refused(milestones.activate_milestone(people.client, other)) == [
        (ErrorCode.IDEMPOTENCY_CONFLICT, "idempotency_key")
    ]
    assert await refused(milestones.activate_milestone(people.freelancer, other)) == [
        (ErrorCode.FORBIDDEN, None)
    ]


async def test_a_refusal_is_not_remembered(people: People, make_room: MakeRoom) -> None:
    room = await make_room(100)
    end = commands.EndContract(contract_id=room.contract.id, idempotency_key="end")
    await milestones.activate_milestone(
        people.client, commands.ActivateMilestone(milestone_id=room.milestone_id(0))
    )
    await refunds.request_escrow_refund(
        people.client, commands.RequestEscrowRefund(milestone_id=room.milestone_id(0))
    )
    assert await refused(contracts.end_contract(people.client, end)) == [
        (ErrorCode.REFUND_REQUEST_PENDING, None)
    ]
    assert not await IdempotencyRecord.filter(key="end").exists()
    pending = await RefundRequest.get(contract_id=room.contract.id)
    await refunds.respond_to_refund_request(
        people.freelancer,
        commands.RespondToRefundRequest(refund_request_id=pending.id, accept=False),
    )
    await milestones.approve_milestone(
        people.client,
        commands.ApproveMilestone(milestone_id=room.milestone_id(0), end_contract=False),
    )
    ended = await contracts.end_contract(people.client, end)
    assert ended.contract.status == "ENDED"
    assert (await contracts.end_contract(people.client, end)).room is not None


async def test_keys_serve_actions_without_a_contract_too(
    people: People, make_room: MakeRoom
) -> None:
    create = commands.CreateContract(
        title="Once", freelancer_id=people.freelancer.id, idempotency_key="c"
    )
    first = await contracts.create_contract(people.client, create)
    again = await contracts.create_contract(people.client, create)
    assert again.contract.id == first.contract.id
    mark = commands.MarkNotificationsRead(all=True, idempotency_key="r")
    first_mark = await notifications.mark_notifications_read(people.freelancer, mark)
    assert (len(first_mark.notifications), first_mark.unread_count) == (1, 0)
    await make_room(5)  # more notifications
    replayed = await notifications.mark_notifications_read(people.freelancer, mark)
    # The first payload again: the same notification, and the unread count as it was then.
    assert [row.id for row in replayed.notifications] == [first_mark.notifications[0].id]
    assert replayed.unread_count == 0
