"""Contract actions: create and end."""

from __future__ import annotations

from milestones.domain import change_requests, commands, contracts, milestones
from milestones.domain.errors import ErrorCode
from milestones.models import ChangeRequest, ContractEvent
from milestones.models.enums import ChangeKind, ChangeRequestStatus, ContractStatus, EventKind
from tests.domain.conftest import MakeRoom, People, refused


async def test_create_names_a_freelancer_who_exists_and_is_someone_else(people: People) -> None:
    for freelancer_id, message in (
        (None, "No user"),
        (999_999, "No user"),
        (people.client.id, "yourself"),
    ):
        command = commands.CreateContract(title="T", freelancer_id=freelancer_id)
        assert await refused(contracts.create_contract(people.client, command)) == [
            (ErrorCode.VALIDATION, "freelancer_id")
        ], message
    outcome = await contracts.create_contract(
        people.client,
        commands.CreateContract(title="T", freelancer_id=people.freelancer.id, currency="EUR"),
    )
    assert (outcome.contract.client_id, outcome.contract.currency) == (people.client.id, "EUR")
    [event] = await ContractEvent.filter(contract_id=outcome.contract.id)
    assert event.kind is EventKind.CONTRACT_OFFERED
    assert outcome.contract.status is ContractStatus.OFFERED


async def test_either_party_ends_once_nothing_is_funded(
    people: People, make_room: MakeRoom
) -> None:
    room = await make_room(100)
    await milestones.activate_milestone(
        people.client, commands.ActivateMilestone(milestone_id=room.milestone_id(0))
    )
    end = commands.EndContract(contract_id=room.contract.id, message="Bye")
    assert await refused(contracts.end_contract(people.freelancer, end)) == [
        (ErrorCode.FUNDS_IN_ESCROW, None)
    ]
    await milestones.approve_milestone(
        people.client,
        commands.ApproveMilestone(milestone_id=room.milestone_id(0), end_contract=False),
    )
    await contracts.end_contract(people.freelancer, end)
    last = await ContractEvent.filter(contract_id=room.contract.id).order_by("-seq").first()
    assert last is not None and (last.kind, last.note) == (EventKind.CONTRACT_ENDED, "Bye")
    assert await refused(contracts.end_contract(people.client, end)) == [
        (ErrorCode.CONTRACT_ENDED, None)
    ]


async def test_ending_declines_the_pending_change_request(
    people: People, make_room: MakeRoom
) -> None:
    room = await make_room(100)
    requested = await change_requests.request_milestone_changes(
        people.freelancer,
        commands.RequestMilestoneChanges(
            contract_id=room.contract.id,
            changes=(commands.Change(ChangeKind.DELETE, room.milestone_id(0)),),
        ),
    )
    await contracts.end_contract(people.client, commands.EndContract(contract_id=room.contract.id))
    assert requested.change_request is not None
    declined = await ChangeRequest.get(id=requested.change_request.id)
    assert declined.status is ChangeRequestStatus.DECLINED
    assert declined.response_message == contracts.CONTRACT_ENDED_RESPONSE
