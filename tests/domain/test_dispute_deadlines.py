"""A dispute the client leaves unanswered resolves itself for the freelancer, exactly once, on
the injectable clock (no sleeping for days); an open dispute pauses the review deadline."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator

import pytest

from milestones.domain import clock, commands, contracts, deadlines, disputes, milestones
from milestones.domain.escrow import ledger_summary
from milestones.models import ContractEvent, Dispute, Milestone, Notification, RefundRequest
from milestones.models.enums import (
    DisputeResolutionKind,
    DisputeStatus,
    EventKind,
    MilestoneStatus,
    RefundRequestStatus,
)
from tests.domain.conftest import MakeRoom, People, Room

DAY = dt.timedelta(days=1)


@pytest.fixture(autouse=True)
def wall_clock() -> Iterator[None]:
    clock.reset()
    yield
    clock.reset()


async def _disputed(people: People, make_room: MakeRoom, *, days_before: int = 0) -> Room:
    """M0 (500) submitted; `days_before` days later the freelancer disputes its payment."""
    room = await make_room(500)
    m0 = room.milestone_id(0)
    await milestones.activate_milestone(people.client, commands.ActivateMilestone(milestone_id=m0))
    await milestones.submit_milestone(people.freelancer, commands.SubmitMilestone(milestone_id=m0))
    clock.advance(days_before * DAY)
    await disputes.open_dispute(people.freelancer, commands.OpenDispute(milestone_id=m0))
    return room


async def test_an_unanswered_dispute_releases_its_amount_exactly_once(
    people: People, make_room: MakeRoom
) -> None:
    room = await _disputed(people, make_room)
    clock.advance(5 * DAY - dt.timedelta(seconds=5))
    assert await deadlines.act_on_due() == 0  # not yet

    clock.advance(dt.timedelta(seconds=5))
    assert await deadlines.act_on_due() == 1
    assert await deadlines.act_on_due() == 0  # exactly once

    dispute = await Dispute.get(contract_id=room.contract.id)
    assert dispute.status is DisputeStatus.RESOLVED
    assert dispute.resolution_kind is DisputeResolutionKind.AUTO_RESOLVED
    assert (dispute.released_amount, dispute.refunded_amount, dispute.decided_by_id) == (
        500,
        0,
        None,
    )
    assert (await Milestone.get(id=room.milestone_id(0))).status is MilestoneStatus.RELEASED
    escrow = (await ledger_summary(room.contract)).escrow
    assert (escrow.released, escrow.held) == (500, 0)
    last = await ContractEvent.filter(contract_id=room.contract.id).order_by("-seq").first()
    assert last is not None and (last.kind, last.actor_id, last.dispute_id) == (
        EventKind.DISPUTE_AUTO_RESOLVED,
        None,
        dispute.id,
    )
    told = await Notification.filter(kind=EventKind.DISPUTE_AUTO_RESOLVED)
    assert sorted(n.recipient_id for n in told) == sorted([people.client.id, people.freelancer.id])
    assert all(n.actor_id is None for n in told)


async def test_concurrent_rounds_act_on_a_due_dispute_once(
    people: People, make_room: MakeRoom
) -> None:
    room = await _disputed(people, make_room)
    clock.advance(6 * DAY)

    acted = await asyncio.gather(*(deadlines.act_on_due() for _ in range(4)))

    assert sum(acted) == 1
    kinds = await ContractEvent.filter(contract_id=room.contract.id).values_list("kind", flat=True)
    assert kinds.count(EventKind.DISPUTE_AUTO_RESOLVED) == 1


async def test_a_dispute_in_mediation_waits_for_the_mediator(
    people: People, make_room: MakeRoom
) -> None:
    room = await _disputed(people, make_room)
    dispute = await Dispute.get(contract_id=room.contract.id)
    await disputes.respond_to_dispute(
        people.client, commands.RespondToDispute(dispute_id=dispute.id, accept=False)
    )
    clock.advance(60 * DAY)  # the review deadline and the dispute's answer-by both passed

    assert await deadlines.act_on_due() == 0
    assert (await Dispute.get(id=dispute.id)).status is DisputeStatus.IN_MEDIATION
    assert (await Milestone.get(id=room.milestone_id(0))).status is MilestoneStatus.SUBMITTED


async def test_an_open_dispute_pauses_the_review_deadline(
    people: People, make_room: MakeRoom
) -> None:
    # Disputed on day 12 of the 14-day review: day 14 passes while the client may answer.
    room = await _disputed(people, make_room, days_before=12)
    clock.advance(3 * DAY)
    assert await deadlines.act_on_due() == 0
    assert (await Milestone.get(id=room.milestone_id(0))).status is MilestoneStatus.SUBMITTED
    # Day 17: the dispute's own deadline acts (the review's release does not act as well).
    clock.advance(2 * DAY)
    assert await deadlines.act_on_due() == 1
    kinds = await ContractEvent.filter(contract_id=room.contract.id).values_list("kind", flat=True)
    assert EventKind.MILESTONE_AUTO_RELEASED not in kinds
    assert kinds[-1] == EventKind.DISPUTE_AUTO_RESOLVED


async def test_an_ended_contracts_disputed_rest_auto_resolves_for_the_freelancer(
    people: People, make_room: MakeRoom
) -> None:
    room = await make_room(800)
    m0 = room.milestone_id(0)
    await milestones.activate_milestone(people.client, commands.ActivateMilestone(milestone_id=m0))
    await milestones.submit_milestone(people.freelancer, commands.SubmitMilestone(milestone_id=m0))
    await contracts.end_contract(
        people.client, commands.EndContract(contract_id=room.contract.id, pay_amount=200)
    )
    rest = await RefundRequest.get(contract_id=room.contract.id)
    await disputes.open_dispute(people.freelancer, commands.OpenDispute(refund_request_id=rest.id))
    # The refund request's own 7 days pass: disputed, it no longer acts; the dispute's 5 did.
    clock.advance(8 * DAY)

    assert await deadlines.act_on_due() == 1

    assert (await RefundRequest.get(id=rest.id)).status is RefundRequestStatus.DISPUTED
    escrow = (await ledger_summary(room.contract)).escrow
    assert (escrow.released, escrow.refunded, escrow.held) == (800, 0, 0)
    assert (await Milestone.get(id=m0)).status is MilestoneStatus.RELEASED
    assert await deadlines.act_on_due() == 0
