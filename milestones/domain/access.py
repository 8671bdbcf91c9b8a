"""Who may see and act on what: parties only, and each party in its own role."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, TypeVar

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


Owned = TypeVar("Owned", Milestone, ChangeRequest, RefundRequest)


async def _lock_contract_of(
    viewer: User,
    model: type[Owned],
    label: str,
    global_id: object,
    field: str,
    **live: Any,
) -> tuple[Contract, Owned]:
    """The contract of the object `global_id` names, locked, and the object re-read under
    the lock (a concurrent action may have changed or removed it meanwhile)."""
    pk = ids.decode(global_id, model.__name__)
    found = await model.get_or_none(id=pk, **live) if pk is not None else None
    if found is None:
        raise not_found(label, field)
    contract = await lock_contract(viewer, found.contract_id, field)
    current = await model.get_or_none(id=found.id, **live)
    if current is None:
        raise not_found(label, field)
    return contract, current


async def lock_contract_of_milestone(
    viewer: User, global_id: object, field: str = "milestoneId"
) -> tuple[Contract, Milestone]:
    return await _lock_contract_of(
        viewer, Milestone, "Milestone", global_id, field, deleted_at=None
    )


async def lock_contract_of_change_request(
    viewer: User, global_id: object, field: str = "changeRequestId"
) -> tuple[Contract, ChangeRequest]:
    return await _lock_contract_of(viewer, ChangeRequest, "Change request", global_id, field)


async def lock_contract_of_refund_request(
    viewer: User, global_id: object, field: str = "refundRequestId"
) -> tuple[Contract, RefundRequest]:
    return await _lock_contract_of(viewer, RefundRequest, "Refund request", global_id, field)
