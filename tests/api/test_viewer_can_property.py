"""For random workflow states and both roles, each `viewerCan` flag is true exactly when its
mutation, sent now by that viewer with valid input, is not refused.

States are driven through the API (random sequences of every workflow mutation by either
party, refusals and all). Then, for each flag of the contract and of each milestone (deleted
ones too, through `node`), the mutation's domain action (what its resolver calls with the
parsed input) actually runs as that viewer inside a transaction that is rolled back
afterwards, and its outcome is compared with the flag (`Contract.viewerCan.openDispute`:
on the pending refund request or on the active milestone). Some contracts start as offers
not accepted yet.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tortoise.transactions import in_transaction

from milestones import ids
from milestones.domain import (
    bonuses,
    change_requests,
    commands,
    contracts,
    disputes,
    milestones,
    refunds,
)
from milestones.domain.errors import DomainError
from milestones.domain.outcome import Outcome
from milestones.domain.values import OMITTED
from milestones.models import ChangeRequest, Milestone, User
from milestones.models.enums import FUNDED_STATUSES, ChangeKind
from tests.helpers import (
    JSON,
    Actor,
    Room,
    create_contract_with_milestones,
    mutate,
    offer_contract,
)

EXAMPLES = int(os.environ.get("MILESTONES_VIEWER_CAN_EXAMPLES", "20"))

CONTRACT_FLAGS = (
    "addMilestone requestChanges respondToChangeRequest withdrawChangeRequest endContract "
    "sendBonus acceptContract openDispute"
)
MILESTONE_FLAGS = "edit delete activate submit approve rejectSubmission requestRefund openDispute"
FLAGS = f"""
query Flags($id: ID!) {{
  contract(id: $id) {{
    viewerCan {{ {CONTRACT_FLAGS} }}
    milestones {{ id }}
    pendingChangeRequest {{ id }}
    pendingRefundRequest {{ id }}
    openDispute {{ id }}
  }}
}}
"""
MILESTONE_NODE = f"""
query Node($id: ID!) {{
  node(id: $id) {{ ... on Milestone {{ viewerCan {{ {MILESTONE_FLAGS} }} }} }}
}}
"""

STEPS = (
    "add",
    "edit",
    "delete",
    "activate",
    "submit",
    "reject",
    "approve",
    "approve_part",
    "approve_and_end",
    "refund",
    "accept_refund",
    "decline_refund",
    "request_add",
    "request_edit",
    "request_delete",
    "accept_changes",
    "decline_changes",
    "withdraw_changes",
    "bonus",
    "end_by_client",
    "end_by_client_paying",
    "end_by_freelancer",
    "dispute_refund",
    "dispute_milestone",
    "accept_dispute",
    "reject_dispute",
    "accept_offer",
    "decline_offer",
)


async def _pending(room: Room) -> tuple[str | None, str | None, str | None]:
    contract = (await room.client.gql(FLAGS, {"id": room.contract_id}))["contract"]
    found = [contract[name] for name in ("pendingChangeRequest", "pendingRefundRequest")]
    found.append(contract["openDispute"])
    change, refund, dispute = (item["id"] if item else None for item in found)
    return change, refund, dispute


async def _step(room: Room, name: str, index: int) -> None:
    """One workflow mutation; a refusal is as good a step as any (it must change nothing)."""
    client, freelancer = room.client, room.freelancer
    milestone = room.milestone(index % len(room.milestone_ids)) if room.milestone_ids else None
    change_request, refund_request, dispute = await _pending(room)
    by_milestone: dict[str, tuple[Actor, str, JSON]] = {
        "edit": (client, "editMilestone", {"title": f"Edited {index}"}),
        "delete": (client, "deleteMilestone", {}),
        "activate": (client, "activateMilestone", {}),
        "submit": (freelancer, "submitMilestone", {}),
        "reject": (client, "rejectSubmission", {}),
        "approve": (client, "approveMilestone", {"endContract": False}),
        "approve_part": (
            client,
            "approveMilestone",
            {"endContract": False, "releaseAmount": "1.00"},
        ),
        "approve_and_end": (
            client,
            "approveMilestone",
            {"endContract": True, "releaseAmount": "2.00"},
        ),
        "refund": (client, "requestEscrowRefund", {}),
        "request_edit": (freelancer, "requestMilestoneChanges", {}),
        "request_delete": (freelancer, "requestMilestoneChanges", {}),
        "dispute_milestone": (freelancer, "openDispute", {}),
    }
    if name in by_milestone:
        if milestone is None:
            return
        actor, mutation, extra = by_milestone[name]
        if name.startswith("request_"):
            kind = "EDIT" if name == "request_edit" else "DELETE"
            change: JSON = {"kind": kind, "milestoneId": milestone}
            if kind == "EDIT":
                change["amount"] = "12.00"
            extra = {"contractId": room.contract_id, "changes": [change]}
        else:
            extra = {"milestoneId": milestone, **extra}
        await mutate(actor, mutation, extra)
    elif name == "add":
        payload = await mutate(
            client, "addMilestone", {"contractId": room.contract_id, "title": "A", "amount": "9.00"}
        )
        if payload["milestone"] is not None:
            room.milestone_ids.append(payload["milestone"]["id"])
    elif name in ("accept_refund", "decline_refund") and refund_request is not None:
        decision = "ACCEPT" if name == "accept_refund" else "DECLINE"
        await mutate(
            freelancer,
            "respondToRefundRequest",
            {"refundRequestId": refund_request, "decision": decision},
        )
    elif name == "request_add":
        await mutate(
            freelancer,
            "requestMilestoneChanges",
            {
                "contractId": room.contract_id,
                "changes": [{"kind": "ADD", "title": "Extra", "amount": "7.00"}],
            },
        )
    elif name in ("accept_changes", "decline_changes") and change_request is not None:
        decision = "ACCEPT" if name == "accept_changes" else "DECLINE"
        payload = await mutate(
            client,
            "respondToChangeRequest",
            {"changeRequestId": change_request, "decision": decision},
        )
        if decision == "ACCEPT" and payload["contract"] is not None:
            # An accepted ADD made milestones: know them too.
            known = set(room.milestone_ids)
            room.milestone_ids += [
                m["id"] for m in payload["contract"]["milestones"] if m["id"] not in known
            ]
    elif name == "dispute_refund" and refund_request is not None:
        await mutate(freelancer, "openDispute", {"refundRequestId": refund_request})
    elif name in ("accept_dispute", "reject_dispute") and dispute is not None:
        decision = "ACCEPT" if name == "accept_dispute" else "REJECT"
        await mutate(client, "respondToDispute", {"disputeId": dispute, "decision": decision})
    elif name in ("accept_offer", "decline_offer"):
        mutation = "acceptContract" if name == "accept_offer" else "declineContract"
        await mutate(freelancer, mutation, {"contractId": room.contract_id})
    elif name == "end_by_client_paying":
        await mutate(client, "endContract", {"contractId": room.contract_id, "payAmount": "1.00"})
    elif name == "withdraw_changes" and change_request is not None:
        await mutate(freelancer, "withdrawChangeRequest", {"changeRequestId": change_request})
    elif name == "bonus":
        await mutate(client, "sendBonus", {"contractId": room.contract_id, "amount": "3.00"})
    elif name in ("end_by_client", "end_by_freelancer"):
        actor = client if name == "end_by_client" else freelancer
        await mutate(actor, "endContract", {"contractId": room.contract_id})


class _RolledBack(Exception):
    pass


async def _succeeds(
    run: Callable[[User, Any], Awaitable[Outcome]], viewer: User, command: Any
) -> bool:
    """Whether the action is taken (not refused), leaving nothing behind either way."""
    taken = False
    try:
        async with in_transaction():
            try:
                await run(viewer, command)
                taken = True
            except DomainError:
                pass
            raise _RolledBack
    except _RolledBack:
        pass
    return taken


def _pk(global_id: str | None, type_name: str) -> int | None:
    return ids.decode(global_id, type_name) if global_id is not None else None


Attempt = tuple[Callable[[User, Any], Awaitable[Outcome]], Any]


async def _contract_actions(
    room: Room, change_request: str | None, refund_request: str | None
) -> dict[str, list[Attempt]]:
    """Each contract flag's action with the valid inputs to try: the flag is true when one of
    them is taken (none: no input could be valid)."""
    contract_pk = _pk(room.contract_id, "Contract")
    request_pk = _pk(change_request, "ChangeRequest")
    if request_pk is None:  # none pending: the latest one (NOT_PENDING), if there is any
        latest = await ChangeRequest.filter(contract_id=contract_pk).order_by("-id").first()
        request_pk = latest.id if latest is not None else None
    add = commands.Change(kind=ChangeKind.ADD, edit=commands.MilestoneEdit(title="New", amount=500))
    answered: list[Attempt] = []
    withdrawn: list[Attempt] = []
    if request_pk is not None:
        answer = commands.RespondToChangeRequest(change_request_id=request_pk, accept=True)
        answered.append((change_requests.respond_to_change_request, answer))
        withdraw = commands.WithdrawChangeRequest(change_request_id=request_pk)
        withdrawn.append((change_requests.withdraw_change_request, withdraw))
    disputed: list[Attempt] = []
    refund_pk = _pk(refund_request, "RefundRequest")
    if refund_pk is not None:
        disputed.append((disputes.open_dispute, commands.OpenDispute(refund_request_id=refund_pk)))
    funded = await Milestone.filter(
        contract_id=contract_pk, status__in=FUNDED_STATUSES, deleted_at=None
    ).first()
    if funded is not None:
        disputed.append((disputes.open_dispute, commands.OpenDispute(milestone_id=funded.id)))
    adding = commands.AddMilestone(contract_id=contract_pk, title="New", amount=500)
    requesting = commands.RequestMilestoneChanges(contract_id=contract_pk, changes=(add,))
    return {
        "addMilestone": [(milestones.add_milestone, adding)],
        "requestChanges": [(change_requests.request_milestone_changes, requesting)],
        "respondToChangeRequest": answered,
        "withdrawChangeRequest": withdrawn,
        "endContract": [(contracts.end_contract, commands.EndContract(contract_id=contract_pk))],
        "sendBonus": [
            (bonuses.send_bonus, commands.SendBonus(contract_id=contract_pk, amount=100))
        ],
        "acceptContract": [
            (contracts.accept_contract, commands.AcceptContract(contract_id=contract_pk))
        ],
        "openDispute": disputed,
    }


def _milestone_actions(
    milestone_pk: int | None,
) -> dict[str, tuple[Callable[[User, Any], Awaitable[Outcome]], Any] | None]:
    pk = milestone_pk
    return {
        "edit": (
            milestones.edit_milestone,
            commands.EditMilestone(
                milestone_id=pk, edit=commands.MilestoneEdit(title="Edited", amount=OMITTED)
            ),
        ),
        "delete": (milestones.delete_milestone, commands.DeleteMilestone(milestone_id=pk)),
        "activate": (milestones.activate_milestone, commands.ActivateMilestone(milestone_id=pk)),
        "submit": (milestones.submit_milestone, commands.SubmitMilestone(milestone_id=pk)),
        "approve": (
            milestones.approve_milestone,
            commands.ApproveMilestone(milestone_id=pk, end_contract=False),
        ),
        "rejectSubmission": (
            milestones.reject_submission,
            commands.RejectSubmission(milestone_id=pk),
        ),
        "requestRefund": (
            refunds.request_escrow_refund,
            commands.RequestEscrowRefund(milestone_id=pk),
        ),
        "openDispute": (disputes.open_dispute, commands.OpenDispute(milestone_id=pk)),
    }


async def _check_flags(room: Room, actor: Actor, trail: list[tuple[str, int]]) -> None:
    viewer = await User.get(sub=actor.sub)
    contract = (await actor.gql(FLAGS, {"id": room.contract_id}))["contract"]
    change_request, refund_request = (
        contract[name]["id"] if contract[name] else None
        for name in ("pendingChangeRequest", "pendingRefundRequest")
    )
    actions = await _contract_actions(room, change_request, refund_request)
    for flag, shown in contract["viewerCan"].items():
        taken = False
        for run, command in actions[flag]:
            taken = taken or await _succeeds(run, viewer, command)
        assert shown == taken, f"{actor.sub}: Contract.viewerCan.{flag} is {shown} after {trail}"
    for milestone in room.milestone_ids:  # the deleted ones too
        node = (await actor.gql(MILESTONE_NODE, {"id": milestone}))["node"]
        for flag, shown in node["viewerCan"].items():
            action = _milestone_actions(_pk(milestone, "Milestone"))[flag]
            taken = action is not None and await _succeeds(action[0], viewer, action[1])
            assert shown == taken, (
                f"{actor.sub}: Milestone.viewerCan.{flag} of {milestone} is {shown} after {trail}"
            )


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    offered=st.booleans(),
    steps=st.lists(
        st.tuples(st.sampled_from(STEPS), st.integers(min_value=0, max_value=3)), max_size=14
    ),
)
async def test_each_flag_is_true_exactly_when_its_mutation_is_not_refused(
    client: Actor, freelancer: Actor, offered: bool, steps: list[tuple[str, int]]
) -> None:
    # A new contract per example (the app and its database live for the whole test): an
    # accepted one, or an offer the steps may accept or decline.
    amounts = ["100.00", "50.00", "20.00"]
    if offered:
        offer = await offer_contract(client, freelancer)
        room = Room(client, freelancer, offer["id"], [])
        for number, amount in enumerate(amounts, start=1):
            room.milestone_ids.append((await room.add(f"M{number}", amount))["milestone"]["id"])
    else:
        room = await create_contract_with_milestones(client, freelancer, amounts)
    for name, index in steps:
        await _step(room, name, index)
    before = await room.read()
    for actor in (client, freelancer):
        await _check_flags(room, actor, steps)
    assert await room.read() == before, "every action tried was rolled back"
