"""Refund actions: the client asks, the freelancer answers once."""

from __future__ import annotations

from milestones.domain import commands, milestones, refunds
from milestones.domain.errors import ErrorCode
from milestones.domain.escrow import ledger_summary
from milestones.models.enums import MilestoneStatus, RefundRequestStatus
from tests.domain.conftest import MakeRoom, People, refused


async def test_an_accepted_refund_returns_the_milestones_money(
    people: People, make_room: MakeRoom
) -> None:
    room = await make_room(500)
    m0 = room.milestone_id(0)
    await milestones.activate_milestone(people.client, commands.ActivateMilestone(milestone_id=m0))
    asked = await refunds.request_escrow_refund(
        people.client, commands.RequestEscrowRefund(milestone_id=m0, message="Stop")
    )
    assert asked.refund_request is not None and asked.refund_request.amount == 500
    again = commands.RequestEscrowRefund(milestone_id=m0)
    assert await refused(refunds.request_escrow_refund(people.client, again)) == [
        (ErrorCode.REFUND_REQUEST_PENDING, None)
    ]
    submit = commands.SubmitMilestone(milestone_id=m0)
    assert await refused(milestones.submit_milestone(people.freelancer, submit)) == [
        (ErrorCode.REFUND_REQUEST_PENDING, None)
    ]
    answer = commands.RespondToRefundRequest(
        refund_request_id=asked.refund_request.id, accept=True, message="OK"
    )
    assert await refused(refunds.respond_to_refund_request(people.client, answer)) == [
        (ErrorCode.FORBIDDEN, None)
    ]
    outcome = await refunds.respond_to_refund_request(people.freelancer, answer)
    assert outcome.refund_request is not None
    assert outcome.refund_request.status is RefundRequestStatus.ACCEPTED
    assert outcome.milestone is not None and outcome.milestone.status is MilestoneStatus.REFUNDED
    escrow = (await ledger_summary(room.contract)).escrow
    assert (escrow.refunded, escrow.held) == (500, 0)
    assert await refused(refunds.respond_to_refund_request(people.freelancer, answer)) == [
        (ErrorCode.NOT_PENDING, None)
    ]


async def test_a_refund_needs_a_funded_milestone(people: People, make_room: MakeRoom) -> None:
    room = await make_room(500)
    ask = commands.RequestEscrowRefund(milestone_id=room.milestone_id(0))
    assert await refused(refunds.request_escrow_refund(people.client, ask)) == [
        (ErrorCode.MILESTONE_NOT_ACTIVE, "milestone_id")
    ]
    unknown = commands.RespondToRefundRequest(refund_request_id=None, accept=True)
    assert await refused(refunds.respond_to_refund_request(people.freelancer, unknown)) == [
        (ErrorCode.NOT_FOUND, "refund_request_id")
    ]
