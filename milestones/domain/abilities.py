"""What the viewer could do now: each flag is true exactly when that action, sent now by the
viewer with valid input, would not be refused for role or state.

No rule is written here: a flag asks the action's own `permit` (the role check its
`contract_action` runs) and the very `rules.<action>_refusal` its body raises, over the same
`RoomState`. Pure: the caller loads the room once per contract and request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from milestones.domain import (
    bonuses,
    change_requests,
    contracts,
    disputes,
    milestones,
    refunds,
    rules,
)
from milestones.domain.access import Access, Role
from milestones.domain.acting import ContractAction
from milestones.domain.errors import Problem
from milestones.models import ChangeRequest, Milestone, RefundRequest


@dataclass(frozen=True, slots=True)
class ContractAbilities:
    add_milestone: bool
    request_changes: bool
    respond_to_change_request: bool
    withdraw_change_request: bool
    end_contract: bool
    send_bonus: bool
    accept_contract: bool
    open_dispute: bool


@dataclass(frozen=True, slots=True)
class MilestoneAbilities:
    edit: bool
    delete: bool
    activate: bool
    submit: bool
    approve: bool
    reject_submission: bool
    request_refund: bool
    open_dispute: bool


NOTHING = MilestoneAbilities(False, False, False, False, False, False, False, False)


Standing = Access | Role | None  # the viewer's access (a team side's role too), or a role


def allowed(action: ContractAction[Any], role: Standing, state: Problem | None) -> bool:
    """Neither the action's role check nor its state rule would refuse."""
    return action.permit.refusal(role) is None and state is None


def _role(standing: Standing) -> Role | None:
    return standing.role if isinstance(standing, Access) else standing


def contract_abilities(
    role: Standing,
    room: rules.RoomState,
    pending_change_request: ChangeRequest | None,
    pending_refund_request: RefundRequest | None,
    funded_milestone: Milestone | None,
) -> ContractAbilities:
    """The contract's flags; the pending requests and the funded milestone are the ones
    `room` names (the only ones an answer, a withdrawal or a dispute could name without
    NOT_PENDING or NOT_DISPUTABLE)."""
    pending = pending_change_request
    answerable = pending is not None and rules.answer_refusal(room.contract, pending) is None
    disputable = (
        pending_refund_request is not None
        and rules.open_dispute_refusal(room, refund_request=pending_refund_request) is None
    ) or (
        funded_milestone is not None
        and rules.open_dispute_refusal(room, milestone=funded_milestone) is None
    )
    return ContractAbilities(
        add_milestone=allowed(milestones.add_milestone, role, rules.add_milestone_refusal(room)),
        # Valid input: a change that needs no milestone (an ADD).
        request_changes=allowed(
            change_requests.request_milestone_changes, role, rules.request_changes_refusal(room)
        ),
        respond_to_change_request=answerable
        and change_requests.respond_to_change_request.permit.refusal(role) is None,
        withdraw_change_request=answerable
        and change_requests.withdraw_change_request.permit.refusal(role) is None,
        end_contract=allowed(
            contracts.end_contract, role, rules.end_contract_refusal(room, _role(role))
        ),
        send_bonus=allowed(bonuses.send_bonus, role, rules.send_bonus_refusal(room)),
        accept_contract=allowed(
            contracts.accept_contract, role, rules.accept_contract_refusal(room.contract)
        ),
        open_dispute=disputable and disputes.open_dispute.permit.refusal(role) is None,
    )


def milestone_abilities(
    role: Standing, room: rules.RoomState, milestone: Milestone
) -> MilestoneAbilities:
    """The milestone's flags. A deleted milestone is found by no action (NOT_FOUND)."""
    if milestone.deleted_at is not None:
        return NOTHING
    return MilestoneAbilities(
        edit=allowed(
            milestones.edit_milestone, role, rules.edit_milestone_refusal(room, milestone)
        ),
        delete=allowed(
            milestones.delete_milestone, role, rules.delete_milestone_refusal(room, milestone)
        ),
        activate=allowed(
            milestones.activate_milestone, role, rules.activate_refusal(room, milestone)
        ),
        submit=allowed(milestones.submit_milestone, role, rules.submit_refusal(room, milestone)),
        approve=allowed(milestones.approve_milestone, role, rules.approve_refusal(room, milestone)),
        reject_submission=allowed(
            milestones.reject_submission, role, rules.reject_submission_refusal(room, milestone)
        ),
        request_refund=allowed(
            refunds.request_escrow_refund, role, rules.request_refund_refusal(room, milestone)
        ),
        open_dispute=allowed(
            disputes.open_dispute, role, rules.open_dispute_refusal(room, milestone=milestone)
        ),
    )
