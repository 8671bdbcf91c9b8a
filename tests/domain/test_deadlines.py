"""Deadlines that act by themselves, with the clock moved forward (no sleeping for days)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator

import pytest

from milestones.domain import clock, commands, deadlines, milestones, refunds
from milestones.domain.escrow import ledger_summary
from milestones.models import ContractEvent, Milestone, Notification, RefundRequest
from milestones.models.enums import EventKind, MilestoneStatus, RefundRequestStatus
from tests.domain.conftest import MakeRoom, People, Room

DAY = dt.timedelta(days=1)


@pytest.fixture(autouse=True)
def wall_clock() -> Iterator[None]:
    clock.reset()
    yield
    clock.reset()


async def _submitted(people: People, make_room: MakeRoom, amount: int = 500) -> Room:
    room = await make_room(amount)
    m0 = room.milestone_id(0)
    await milestones.activate_milestone(people.client, commands.ActivateMilestone(milestone_id=m0))
    await milestones.submit_milestone(people.freelancer, commands.SubmitMilestone(milestone_id=m0))
    return room


async def _events(room: Room) -> list[tuple[EventKind, int | None]]:
    rows = await ContractEvent.filter(contract_id=room.contract.id).order_by("seq")
    return [(event.kind, event.actor_id) for event in rows]


async def test_client_silence_releases_the_submitted_milestone_once(
    people: People, make_room: MakeRoom
) -> None:
    room = await _submitted(people, make_room)
    clock.advance(14 * DAY - dt.timedelta(seconds=5))
    assert await deadlines.act_on_due() == 0  # not yet

    clock.advance(dt.timedelta(seconds=5))
    assert await deadlines.act_on_due() == 1
    assert await deadlines.act_on_due() == 0  # exactly once

    milestone = await Milestone.get(id=room.milestone_id(0))
    assert milestone.status is MilestoneStatus.RELEASED
    assert milestone.review_deadline is None and milestone.released_at is not None
    escrow = (await ledger_summary(room.contract)).escrow
    assert (escrow.released, escrow.held) == (500, 0)
    assert (await _events(room))[-1] == (EventKind.MILESTONE_AUTO_RELEASED, None)
    # Both parties are told, with no actor.
    told = await Notification.filter(kind=EventKind.MILESTONE_AUTO_RELEASED)
    assert sorted(n.recipient_id for n in told) == sorted([people.client.id, people.freelancer.id])
    assert all(n.actor_id is None for n in told)
    assert "5.00 USD was released" in told[0].message


async def test_rejecting_stops_the_review_deadline(people: People, make_room: MakeRoom) -> None:
    room = await _submitted(people, make_room)
    m0 = room.milestone_id(0)
    await milestones.reject_submission(people.client, commands.RejectSubmission(milestone_id=m0))
    clock.advance(15 * DAY)

    assert await deadlines.act_on_due() == 0
    assert (await Milestone.get(id=m0)).status is MilestoneStatus.ACTIVE


async def test_an_unanswered_refund_request_is_accepted_and_pauses_the_review(
    people: People, make_room: MakeRoom
) -> None:
    room = await _submitted(people, make_room)
    m0 = room.milestone_id(0)
    clock.advance(10 * DAY)
    await refunds.request_escrow_refund(
        people.client, commands.RequestEscrowRefund(milestone_id=m0)
    )

    # Day 14 passes: the review deadline waits while the refund request is pending.
    clock.advance(5 * DAY)
    assert await deadlines.act_on_due() == 0
    assert (await Milestone.get(id=m0)).status is MilestoneStatus.SUBMITTED

    clock.advance(2 * DAY)  # 7 days after the request
    assert await deadlines.act_on_due() == 1
    refund = await RefundRequest.get(contract_id=room.contract.id)
    assert refund.status is RefundRequestStatus.ACCEPTED
    assert (await Milestone.get(id=m0)).status is MilestoneStatus.REFUNDED
    escrow = (await ledger_summary(room.contract)).escrow
    assert (escrow.refunded, escrow.released, escrow.held) == (500, 0, 0)
    assert (await _events(room))[-1] == (EventKind.REFUND_AUTO_ACCEPTED, None)
    assert await deadlines.act_on_due() == 0


async def test_when_both_passed_the_refund_request_acts_first(
    people: People, make_room: MakeRoom
) -> None:
    room = await _submitted(people, make_room)
    m0 = room.milestone_id(0)
    asked = await refunds.request_escrow_refund(
        people.client, commands.RequestEscrowRefund(milestone_id=m0)
    )
    assert asked.refund_request is not None
    clock.advance(15 * DAY)
    # Both deadlines passed: the pending refund request pauses the review, so it is accepted.
    assert await deadlines.act_on_due() == 1
    assert (await Milestone.get(id=m0)).status is MilestoneStatus.REFUNDED


async def test_after_a_declined_refund_the_paused_review_acts_at_once(
    people: People, make_room: MakeRoom
) -> None:
    room = await _submitted(people, make_room)
    m0 = room.milestone_id(0)
    clock.advance(13 * DAY)
    asked = await refunds.request_escrow_refund(
        people.client, commands.RequestEscrowRefund(milestone_id=m0)
    )
    assert asked.refund_request is not None
    clock.advance(2 * DAY)  # the review deadline passed while the request was pending
    assert await deadlines.act_on_due() == 0
    await refunds.respond_to_refund_request(
        people.freelancer,
        commands.RespondToRefundRequest(refund_request_id=asked.refund_request.id, accept=False),
    )

    assert await deadlines.act_on_due() == 1
    assert (await Milestone.get(id=m0)).status is MilestoneStatus.RELEASED


async def test_batched_concurrent_rounds_act_on_each_deadline_once(
    people: People, make_room: MakeRoom
) -> None:
    rooms = [await _submitted(people, make_room) for _ in range(5)]
    clock.advance(15 * DAY)
    # Several rounds at once, a few contracts per transaction: every deadline acts once.
    acted = await asyncio.gather(*(deadlines.act_on_due(per_transaction=2) for _ in range(3)))
    while await deadlines.act_on_due(per_transaction=2):
        pass
    assert sum(acted) <= 5
    for room in rooms:
        kinds = [kind for kind, _ in await _events(room)]
        assert kinds.count(EventKind.MILESTONE_AUTO_RELEASED) == 1, kinds
        assert (await Milestone.get(id=room.milestone_id(0))).status is MilestoneStatus.RELEASED


async def test_a_contract_that_fails_holds_back_no_other_in_its_batch(
    people: People, make_room: MakeRoom, monkeypatch: pytest.MonkeyPatch
) -> None:
    rooms = [await _submitted(people, make_room) for _ in range(3)]
    broken = rooms[1].contract.id
    release = deadlines._release

    async def failing(transaction: object, contract: object, milestone: Milestone) -> None:
        if milestone.contract_id == broken:
            raise RuntimeError("broken contract")
        await release(transaction, contract, milestone)  # type: ignore[arg-type]

    monkeypatch.setattr(deadlines, "_release", failing)
    clock.advance(15 * DAY)
    assert await deadlines.act_on_due(per_transaction=3) == 2
    statuses = [(await Milestone.get(id=room.milestone_id(0))).status for room in rooms]
    assert statuses == [
        MilestoneStatus.RELEASED,
        MilestoneStatus.SUBMITTED,
        MilestoneStatus.RELEASED,
    ]
