"""The workflow's state rules, each in exactly one function."""

from __future__ import annotations

from collections.abc import Iterable

from milestones.domain.errors import ErrorCode, refuse
from milestones.models import ChangeRequest, Contract, Milestone, RefundRequest
from milestones.models.enums import (
    FUNDED_STATUSES,
    ChangeRequestStatus,
    ContractStatus,
    MilestoneStatus,
    RefundRequestStatus,
)


def ensure_contract_open(contract: Contract) -> None:
    """An ended contract refuses everything that would change it."""
    if contract.status is ContractStatus.ENDED:
        raise refuse(ErrorCode.CONTRACT_ENDED, "The contract has ended.")


def ensure_upcoming(milestone: Milestone, field: str | None = "milestoneId") -> None:
    """Only upcoming milestones can be edited, deleted or activated: active ones are frozen."""
    if milestone.status is not MilestoneStatus.UPCOMING:
        raise refuse(
            ErrorCode.MILESTONE_NOT_UPCOMING,
            f"The milestone is {milestone.status.lower()}, not upcoming.",
            field,
        )


def ensure_status(
    milestone: Milestone, allowed: Iterable[MilestoneStatus], code: ErrorCode
) -> None:
    if milestone.status not in tuple(allowed):
        raise refuse(code, f"The milestone is {milestone.status.lower()}.", "milestoneId")


async def pending_change_request(contract: Contract) -> ChangeRequest | None:
    return await ChangeRequest.get_or_none(
        contract_id=contract.id, status=ChangeRequestStatus.PENDING
    )


async def ensure_no_pending_change_request(contract: Contract) -> None:
    """While a change request is pending the client cannot add, edit, delete or activate."""
    if await pending_change_request(contract) is not None:
        raise refuse(
            ErrorCode.CHANGE_REQUEST_PENDING,
            "A change request is pending: accept or decline it first.",
        )


async def pending_refund_request(contract: Contract) -> RefundRequest | None:
    return await RefundRequest.get_or_none(
        contract_id=contract.id, status=RefundRequestStatus.PENDING
    )


async def ensure_no_pending_refund_request(contract: Contract) -> None:
    """While a refund request is pending the active milestone cannot move."""
    if await pending_refund_request(contract) is not None:
        raise refuse(
            ErrorCode.REFUND_REQUEST_PENDING,
            "A refund request is pending on the active milestone.",
        )


async def funded_milestone(contract: Contract) -> Milestone | None:
    return await Milestone.get_or_none(
        contract_id=contract.id, status__in=FUNDED_STATUSES, deleted_at=None
    )


async def ensure_no_funded_milestone(contract: Contract) -> None:
    """Only one milestone per contract is funded at a time."""
    if await funded_milestone(contract) is not None:
        raise refuse(
            ErrorCode.ANOTHER_MILESTONE_ACTIVE,
            "Another milestone is funded: release or refund it first.",
        )


def ensure_version(milestone: Milestone, expected_version: int | None) -> None:
    if expected_version is not None and expected_version != milestone.version:
        raise refuse(
            ErrorCode.VERSION_CONFLICT,
            f"The milestone is at version {milestone.version}, not {expected_version}.",
            "expectedVersion",
        )


async def ensure_nothing_in_escrow_for_active_milestone(contract: Contract) -> None:
    """A contract ends only once its active milestone is approved or refunded."""
    if await funded_milestone(contract) is not None:
        raise refuse(
            ErrorCode.FUNDS_IN_ESCROW,
            "A milestone is still funded: approve it or have its refund accepted first.",
        )
