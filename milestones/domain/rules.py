"""The workflow's rules, each in exactly one function.

Every rule is a pure function over state already loaded (the contract, the object acted on,
a `RoomState`): it answers why the action would be refused, or None, and changes nothing. An
action raises the answer (`refuse_if`); a "could the viewer do this?" flag asks the same
function without acting. Per action, `<action>_refusal` lists its state checks in the order
of the contract: the contract's state, then the milestone's, then what is pending, then the
rest.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tortoise import connections

from milestones.domain.access import Role
from milestones.domain.errors import ErrorCode, Problem
from milestones.models import ChangeRequest, Contract, Milestone, RefundRequest
from milestones.models.enums import (
    FUNDED_STATUSES,
    ChangeRequestStatus,
    ContractStatus,
    MilestoneStatus,
    RefundRequestStatus,
)

ACTIVE_OR_SUBMITTED = (MilestoneStatus.ACTIVE, MilestoneStatus.SUBMITTED)


@dataclass(frozen=True, slots=True)
class RoomState:
    """What is pending or funded in a contract, read once under the action's lock."""

    contract: Contract
    pending_change_request_id: int | None
    pending_refund_request_id: int | None
    funded_milestone_id: int | None


_ROOM_STATE_SQL = (
    "SELECT "
    "(SELECT id FROM change_requests WHERE contract_id = {p} AND status = '{cr}' LIMIT 1), "
    "(SELECT id FROM refund_requests WHERE contract_id = {p} AND status = '{rr}' LIMIT 1), "
    "(SELECT id FROM milestones WHERE contract_id = {p} AND status IN ({funded}) "
    "AND deleted_at IS NULL LIMIT 1)"
)


def _room_state_sql(placeholder: str) -> str:
    return _ROOM_STATE_SQL.format(
        p=placeholder,
        cr=ChangeRequestStatus.PENDING.value,
        rr=RefundRequestStatus.PENDING.value,
        funded=", ".join(f"'{status.value}'" for status in FUNDED_STATUSES),
    )


_POSTGRES_ROOM_STATE_SQL = _room_state_sql("$1")
_SQLITE_ROOM_STATE_SQL = _room_state_sql("?1")


async def load_room_state(contract: Contract) -> RoomState:
    """One statement: the pending change request, pending refund request, funded milestone."""
    connection = connections.get("default")
    postgres = connection.capabilities.dialect == "postgres"
    sql = _POSTGRES_ROOM_STATE_SQL if postgres else _SQLITE_ROOM_STATE_SQL
    _, rows = await connection.execute_query(sql, [contract.id])
    change_request, refund_request, funded = tuple(rows[0])
    return RoomState(contract, change_request, refund_request, funded)


# The single rules.


def first(*answers: Problem | None) -> Problem | None:
    """The first refusal of checks listed in the contract's order."""
    return next((answer for answer in answers if answer is not None), None)


def contract_open(contract: Contract) -> Problem | None:
    """An ended contract, or a declined (or withdrawn) offer, refuses every change."""
    if contract.status is ContractStatus.ENDED:
        return Problem(ErrorCode.CONTRACT_ENDED, "The contract has ended.")
    if contract.status is ContractStatus.DECLINED:
        return Problem(ErrorCode.CONTRACT_ENDED, "The offer was declined or withdrawn.")
    return None


def contract_accepted(contract: Contract) -> Problem | None:
    """Money and work wait for the freelancer party to accept the offer."""
    if contract.status is ContractStatus.OFFERED:
        return Problem(
            ErrorCode.CONTRACT_NOT_ACCEPTED,
            "The offer has not been accepted yet: the freelancer accepts or declines it first.",
        )
    return None


def contract_in_force(contract: Contract) -> Problem | None:
    """Open and accepted: the contract's two states, before any milestone's."""
    return first(contract_open(contract), contract_accepted(contract))


def offer_pending(contract: Contract) -> Problem | None:
    """An offer is answered once (accepted, declined, or withdrawn by the client)."""
    if contract.status is not ContractStatus.OFFERED:
        answered = {
            ContractStatus.ACTIVE: "was accepted",
            ContractStatus.ENDED: "was accepted (the contract has ended since)",
            ContractStatus.DECLINED: "was declined or withdrawn",
        }[contract.status]
        return Problem(ErrorCode.NOT_PENDING, f"The offer {answered}: it is no longer pending.")
    return None


def upcoming(milestone: Milestone, field: str | None = "milestone_id") -> Problem | None:
    """Only upcoming milestones can be edited, deleted or activated: active ones are frozen."""
    if milestone.status is not MilestoneStatus.UPCOMING:
        return Problem(
            ErrorCode.MILESTONE_NOT_UPCOMING,
            f"The milestone is {milestone.status.lower()}, not upcoming.",
            field,
        )
    return None


def in_status(
    milestone: Milestone, allowed: Iterable[MilestoneStatus], code: ErrorCode
) -> Problem | None:
    if milestone.status not in tuple(allowed):
        return Problem(code, f"The milestone is {milestone.status.lower()}.", "milestone_id")
    return None


def no_pending_change_request(room: RoomState) -> Problem | None:
    """While a change request is pending the client cannot add, edit, delete or activate."""
    if room.pending_change_request_id is not None:
        return Problem(
            ErrorCode.CHANGE_REQUEST_PENDING,
            "A change request is pending: accept or decline it first.",
        )
    return None


def no_pending_refund_request(room: RoomState) -> Problem | None:
    """While a refund request is pending the active milestone cannot move."""
    if room.pending_refund_request_id is not None:
        return Problem(
            ErrorCode.REFUND_REQUEST_PENDING,
            "A refund request is pending on the active milestone.",
        )
    return None


def no_funded_milestone(room: RoomState) -> Problem | None:
    """Only one milestone per contract is funded at a time."""
    if room.funded_milestone_id is not None:
        return Problem(
            ErrorCode.ANOTHER_MILESTONE_ACTIVE,
            "Another milestone is funded: release or refund it first.",
        )
    return None


def nothing_funded_to_end(room: RoomState) -> Problem | None:
    """A contract ends only once its active milestone is approved or refunded."""
    if room.funded_milestone_id is not None:
        return Problem(
            ErrorCode.FUNDS_IN_ESCROW,
            "A milestone is still funded: approve it or have its refund accepted first.",
        )
    return None


def version_matches(milestone: Milestone, expected_version: int | None) -> Problem | None:
    if expected_version is not None and expected_version != milestone.version:
        return Problem(
            ErrorCode.VERSION_CONFLICT,
            f"The milestone is at version {milestone.version}, not {expected_version}.",
            "expected_version",
        )
    return None


def still_pending(request: ChangeRequest | RefundRequest) -> Problem | None:
    """A request is answered (or withdrawn) once."""
    if request.status != "PENDING":
        what = "change request" if isinstance(request, ChangeRequest) else "refund request"
        return Problem(
            ErrorCode.NOT_PENDING,
            f"The {what} is {request.status.lower()}, no longer pending.",
        )
    return None


def release_within_funded(amount: int | None, funded: int) -> Problem | None:
    """A release is at most what the milestone holds in escrow (a VALIDATION problem)."""
    if amount is not None and amount > funded:
        return Problem(
            ErrorCode.VALIDATION,
            "Release amount must be at most the funded amount.",
            "release_amount",
        )
    return None


def changes_apply(changed: Iterable[tuple[int, Milestone]]) -> Problem | None:
    """Edits and deletes concern upcoming milestones only: (change index, its milestone)."""
    for index, milestone in changed:
        if milestone.status is not MilestoneStatus.UPCOMING:
            return Problem(
                ErrorCode.MILESTONE_NOT_UPCOMING,
                f"The milestone “{milestone.title}” is {milestone.status.lower()}: "
                "only upcoming milestones can change.",
                f"changes.{index}.milestone_id",
            )
    return None


# Each action's state checks, in the contract's order (its role is checked before these).


def add_milestone_refusal(room: RoomState) -> Problem | None:
    return first(contract_open(room.contract), no_pending_change_request(room))


def edit_milestone_refusal(
    room: RoomState, milestone: Milestone, expected_version: int | None = None
) -> Problem | None:
    return first(
        contract_open(room.contract),
        upcoming(milestone),
        no_pending_change_request(room),
        version_matches(milestone, expected_version),
    )


def delete_milestone_refusal(room: RoomState, milestone: Milestone) -> Problem | None:
    return first(contract_open(room.contract), upcoming(milestone), no_pending_change_request(room))


def activate_refusal(room: RoomState, milestone: Milestone) -> Problem | None:
    return first(
        contract_in_force(room.contract),
        upcoming(milestone),
        no_pending_change_request(room),
        no_funded_milestone(room),
    )


def submit_refusal(room: RoomState, milestone: Milestone) -> Problem | None:
    return first(
        contract_in_force(room.contract),
        in_status(milestone, [MilestoneStatus.ACTIVE], ErrorCode.MILESTONE_NOT_ACTIVE),
        no_pending_refund_request(room),
    )


def reject_submission_refusal(room: RoomState, milestone: Milestone) -> Problem | None:
    return first(
        contract_in_force(room.contract),
        in_status(milestone, [MilestoneStatus.SUBMITTED], ErrorCode.MILESTONE_NOT_SUBMITTED),
        no_pending_refund_request(room),
    )


def approve_refusal(room: RoomState, milestone: Milestone) -> Problem | None:
    return first(
        contract_in_force(room.contract),
        in_status(milestone, ACTIVE_OR_SUBMITTED, ErrorCode.MILESTONE_NOT_ACTIVE),
        no_pending_refund_request(room),
    )


def request_refund_refusal(room: RoomState, milestone: Milestone) -> Problem | None:
    return approve_refusal(room, milestone)


def end_contract_refusal(room: RoomState, role: Role | None = Role.CLIENT) -> Problem | None:
    """Ending an accepted contract, or (the client) withdrawing an offer; the freelancer
    answers an offer with accept or decline, not by ending it."""
    if room.contract.status is ContractStatus.OFFERED and role is not Role.CLIENT:
        return contract_accepted(room.contract)
    return first(contract_open(room.contract), nothing_funded_to_end(room))


def send_bonus_refusal(room: RoomState) -> Problem | None:
    return contract_in_force(room.contract)


def accept_contract_refusal(contract: Contract) -> Problem | None:
    """The freelancer party accepting the offer (their role is checked before)."""
    return offer_pending(contract)


def decline_contract_refusal(contract: Contract) -> Problem | None:
    """The freelancer party declining the offer (their role is checked before)."""
    return offer_pending(contract)


def request_changes_refusal(
    room: RoomState, changed: Iterable[tuple[int, Milestone]] = ()
) -> Problem | None:
    return first(
        contract_in_force(room.contract), changes_apply(changed), no_pending_change_request(room)
    )


def answer_refusal(contract: Contract, request: ChangeRequest | RefundRequest) -> Problem | None:
    """Responding to, or withdrawing, a change or refund request."""
    return first(contract_in_force(contract), still_pending(request))


def is_funded(milestone: Milestone) -> bool:
    return milestone.status in FUNDED_STATUSES
