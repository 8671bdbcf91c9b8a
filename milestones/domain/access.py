"""Who may see and act on what: parties only, and each party in its own role."""

from __future__ import annotations

from enum import StrEnum

from milestones import ids
from milestones.domain.errors import ErrorCode, not_found, refuse
from milestones.models import ChangeRequest, Contract, Milestone, RefundRequest, User


class Role(StrEnum):
    CLIENT = "CLIENT"
    FREELANCER = "FREELANCER"


def role_of(viewer: User, contract: Contract) -> Role | None:
    if viewer.id == contract.client_id:
        return Role.CLIENT
    if viewer.id == contract.freelancer_id:
        return Role.FREELANCER
    return None


def require_role(viewer: User, contract: Contract, role: Role, doing: str) -> None:
    if role_of(viewer, contract) is not role:
        who = "client" if role is Role.CLIENT else "freelancer"
        raise refuse(ErrorCode.FORBIDDEN, f"Only the {who} can {doing}.")


def other_party_id(contract: Contract, actor_id: int) -> int:
    return contract.freelancer_id if actor_id == contract.client_id else contract.client_id


async def lock_contract(viewer: User, contract_pk: int | None, field: str) -> Contract:
    """The contract, locked for this transaction, if the viewer is a party to it."""
    if contract_pk is None:
        raise not_found("Contract", field)
    contract = await Contract.select_for_update().get_or_none(id=contract_pk)
    if contract is None or role_of(viewer, contract) is None:
        raise not_found("Contract", field)
    return contract


async def lock_contract_of_milestone(
    viewer: User, global_id: object, field: str = "milestoneId"
) -> tuple[Contract, Milestone]:
    pk = ids.decode(global_id, "Milestone")
    found = await Milestone.get_or_none(id=pk, deleted_at=None) if pk is not None else None
    if found is None:
        raise not_found("Milestone", field)
    contract = await lock_contract(viewer, found.contract_id, field)
    milestone = await Milestone.get_or_none(id=found.id, deleted_at=None)  # re-read under lock
    if milestone is None:
        raise not_found("Milestone", field)
    return contract, milestone


async def lock_contract_of_change_request(
    viewer: User, global_id: object, field: str = "changeRequestId"
) -> tuple[Contract, ChangeRequest]:
    pk = ids.decode(global_id, "ChangeRequest")
    found = await ChangeRequest.get_or_none(id=pk) if pk is not None else None
    if found is None:
        raise not_found("Change request", field)
    contract = await lock_contract(viewer, found.contract_id, field)
    await found.refresh_from_db()
    return contract, found


async def lock_contract_of_refund_request(
    viewer: User, global_id: object, field: str = "refundRequestId"
) -> tuple[Contract, RefundRequest]:
    pk = ids.decode(global_id, "RefundRequest")
    found = await RefundRequest.get_or_none(id=pk) if pk is not None else None
    if found is None:
        raise not_found("Refund request", field)
    contract = await lock_contract(viewer, found.contract_id, field)
    await found.refresh_from_db()
    return contract, found
