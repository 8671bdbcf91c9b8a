"""Deadline reminders, with the clock moved forward: whoever must act is reminded once,
`REMINDER_BEFORE` (2 days by default) ahead of the deadline; a notification only."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator

import pytest

from milestones.domain import clock, commands, deadlines, milestones, refunds
from milestones.domain.reminders import send_due_reminders
from milestones.domain.windows import Windows, set_windows, windows
from milestones.models import ContractEvent, Milestone, Notification, RefundRequest
from milestones.models.enums import EventKind
from milestones.scheduler import run_round
from tests.domain.conftest import MakeRoom, People, Room

DAY = dt.timedelta(days=1)
SECOND = dt.timedelta(seconds=1)


@pytest.fixture(autouse=True)
def wall_clock() -> Iterator[None]:
    clock.reset()
    saved = windows()
    set_windows(Windows())
    yield
    set_windows(saved)
    clock.reset()


async def _submitted(people: People, make_room: MakeRoom) -> Room:
    room = await make_room(500)
    m0 = room.milestone_id(0)
    await milestones.activate_milestone(people.client, commands.ActivateMilestone(milestone_id=m0))
    await milestones.submit_milestone(people.freelancer, commands.SubmitMilestone(milestone_id=m0))
    return room


async def _reminders() -> list[Notification]:
    return list(await Notification.filter(kind=EventKind.DEADLINE_REMINDER).order_by("id"))


async def test_the_client_is_reminded_once_two_days_before_the_review_deadline(
    people: People, make_room: MakeRoom
) -> None:
    room = await _submitted(people, make_room)
    milestone = await Milestone.get(id=room.milestone_id(0))
    events_before = await ContractEvent.filter(contract_id=room.contract.id).count()

    clock.advance(12 * DAY - 5 * SECOND)
    assert await send_due_reminders() == 0
    assert await _reminders() == []

    clock.advance(5 * SECOND)
    assert await send_due_reminders() == 1
    assert await send_due_reminders() == 0  # exactly once
    (reminder,) = await _reminders()
    assert reminder.recipient_id == people.client.id  # whoever must act: the client
    assert reminder.actor_id is None and reminder.event_id is None
    assert reminder.deadline == milestone.review_deadline
    assert reminder.milestone_id == milestone.id
    assert milestone.review_deadline is not None
    assert milestone.review_deadline.strftime("%Y-%m-%d %H:%M UTC") in reminder.message
    assert "“M1”" in reminder.message
    # A notification only: no room event.
    assert await ContractEvent.filter(contract_id=room.contract.id).count() == events_before
    # The deadline itself still acts when it comes.
    clock.advance(2 * DAY)
    assert await deadlines.act_on_due() == 1
    assert len(await _reminders()) == 1


async def test_the_freelancer_is_reminded_of_a_refund_request(
    people: People, make_room: MakeRoom
) -> None:
    room = await _submitted(people, make_room)
    asked = await refunds.request_escrow_refund(
        people.client, commands.RequestEscrowRefund(milestone_id=room.milestone_id(0))
    )
    assert asked.refund_request is not None
    refund = await RefundRequest.get(id=asked.refund_request.id)

    clock.advance(5 * DAY)
    await run_round()
    (reminder,) = await _reminders()
    assert reminder.recipient_id == people.freelancer.id
    assert reminder.refund_request_id == refund.id
    assert reminder.deadline == refund.respond_by
    assert "5.00 USD" in reminder.message
    # The review deadline is paused while the request is pending: no review reminder.
    clock.advance(DAY)
    await run_round()
    assert len(await _reminders()) == 1


async def test_a_window_shorter_than_the_lead_gets_no_reminder(
    people: People, make_room: MakeRoom
) -> None:
    set_windows(Windows(review=DAY, reminder_before=2 * DAY))
    room = await _submitted(people, make_room)
    assert (await Milestone.get(id=room.milestone_id(0))).review_remind_at is None
    for _ in range(3):
        clock.advance(DAY / 2)
        await run_round()
    assert await _reminders() == []
    assert await ContractEvent.filter(kind=EventKind.MILESTONE_AUTO_RELEASED).count() == 1


async def test_a_deadline_that_passed_gets_no_late_reminder(
    people: People, make_room: MakeRoom
) -> None:
    room = await _submitted(people, make_room)
    clock.advance(15 * DAY)  # nothing ran in between: reminder and deadline both passed
    assert await send_due_reminders() == 1  # claimed, silently
    assert await _reminders() == []
    assert (await Milestone.get(id=room.milestone_id(0))).review_remind_at is None
    assert await deadlines.act_on_due() == 1
    assert await _reminders() == []


async def test_a_rejected_submission_or_answered_request_gets_none(
    people: People, make_room: MakeRoom
) -> None:
    room = await _submitted(people, make_room)
    m0 = room.milestone_id(0)
    await milestones.reject_submission(people.client, commands.RejectSubmission(milestone_id=m0))
    other = await _submitted(people, make_room)
    asked = await refunds.request_escrow_refund(
        people.client, commands.RequestEscrowRefund(milestone_id=other.milestone_id(0))
    )
    assert asked.refund_request is not None
    await refunds.respond_to_refund_request(
        people.freelancer,
        commands.RespondToRefundRequest(refund_request_id=asked.refund_request.id, accept=True),
    )
    clock.advance(13 * DAY)
    assert await send_due_reminders() == 0
    assert await _reminders() == []


async def test_concurrent_rounds_send_each_reminder_once(
    people: People, make_room: MakeRoom
) -> None:
    for _ in range(3):
        await _submitted(people, make_room)
    clock.advance(12 * DAY + SECOND)
    claimed = await asyncio.gather(*(send_due_reminders(limit=2) for _ in range(4)))
    while await send_due_reminders(limit=2):
        pass
    assert sum(claimed) <= 3
    reminders = await _reminders()
    assert len(reminders) == 3
    assert len({n.milestone_id for n in reminders}) == 3


async def test_the_client_is_reminded_of_a_dispute_and_not_when_answered(
    people: People, make_room: MakeRoom
) -> None:
    from milestones.domain import disputes
    from milestones.models import Dispute

    room = await _submitted(people, make_room)
    other = await _submitted(people, make_room)
    opened = await disputes.open_dispute(
        people.freelancer, commands.OpenDispute(milestone_id=room.milestone_id(0))
    )
    answered = await disputes.open_dispute(
        people.freelancer, commands.OpenDispute(milestone_id=other.milestone_id(0))
    )
    assert opened.dispute is not None and answered.dispute is not None
    await disputes.respond_to_dispute(
        people.client, commands.RespondToDispute(dispute_id=answered.dispute.id, accept=False)
    )
    dispute = await Dispute.get(id=opened.dispute.id)

    clock.advance(3 * DAY + SECOND)  # 5-day window, reminded 2 days before
    await run_round()
    (reminder,) = await _reminders()
    assert reminder.recipient_id == people.client.id
    assert reminder.dispute_id == dispute.id
    assert reminder.deadline == dispute.respond_by
    assert "5.00 USD" in reminder.message
    # The review deadlines of both milestones are paused by their disputes: nothing more.
    clock.advance(DAY)
    await run_round()
    assert len(await _reminders()) == 1
