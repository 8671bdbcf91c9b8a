"""Who may see and act on what: parties only, and each party in its own role; mediators
see (read-only) the rooms whose disputes went to mediation, and decide those disputes.

`role_among` is the one rule of who is a party; every reader (the domain's locks, queries,
subscriptions, the room cache, which knows users by their token's `sub`) asks it. `role_of`
adds the mediator: the room cache never serves a mediator (it caches parties only).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, TypeVar

from milestones.domain.errors import ErrorCode, Problem, not_found
from milestones.models import ChangeRequest, Contract, Dispute, Milestone, RefundRequest, User


class Role(StrEnum):
    CLIENT = "CLIENT"
    FREELANCER = "FREELANCER"
    # Not a party: sees a room whose dispute went to mediation, read-only; resolves disputes.
    MEDIATOR = "MEDIATOR"


K = TypeVar("K")


def role_among(who: K, client: K, freelancer: K) -> Role | None:
    """The role of `who` in a contract between `client` and `freelancer` (ids or subs)."""
    if who == client:
        return Role.CLIENT
    if who == freelancer:
        return Role.FREELANCER
    return None


def role_of(viewer: User, contract: Contract) -> Role | None:
    """The viewer's party role; MEDIATOR for a mediator once a dispute of the contract went to
    mediation (every mediator sees every such room); None: the contract does not exist for
    them."""
    role = role_among(viewer.id, contract.client_id, contract.freelancer_id)
    if role is None and viewer.is_mediator and contract.mediated_at is not None:
        return Role.MEDIATOR
    return role


def may_see(viewer: User, contract: Contract) -> bool:
    """A contract exists, for a viewer, only if they are a party to it (or its mediator)."""
    return role_of(viewer, contract) is not None


def role_refusal(role: Role | None, required: Role | None, doing: str) -> Problem | None:
    """FORBIDDEN unless a party of the `required` role (None: either party) acts. A mediator
    only watches a room: every party action is FORBIDDEN to them, and only they resolve."""
    if role is required or (required is None and role is not Role.MEDIATOR):
        return None
    names = {Role.CLIENT: "the client", Role.FREELANCER: "the freelancer"}
    who = "a party" if required is None else names.get(required, "a mediator")
    return Problem(ErrorCode.FORBIDDEN, f"Only {who} can {doing}.")


def other_party_id(contract: Contract, actor_id: int) -> int:
    return contract.freelancer_id if actor_id == contract.client_id else contract.client_id


async def lock_contract(viewer: User, contract_pk: int | None, field: str) -> Contract:
    """The contract, locked for this transaction, if the viewer is a party to it."""
    if contract_pk is None:
        raise not_found("Contract", field)
    contract = await Contract.select_for_update().get_or_none(id=contract_pk)
    if contract is None or not may_see(viewer, contract):
        raise not_found("Contract", field)
    return contract


Owned = TypeVar("Owned", Milestone, ChangeRequest, RefundRequest, Dispute)


async def _lock_contract_of(
    viewer: User, model: type[Owned], label: str, pk: int | None, field: str, **live: Any
) -> tuple[Contract, Owned]:
    """The contract of the object `pk` names, locked, and the object re-read under the lock
    (a concurrent action may have changed or removed it meanwhile)."""
    found = await model.get_or_none(id=pk, **live) if pk is not None else None
    if found is None:
        raise not_found(label, field)
    contract = await lock_contract(viewer, found.contract_id, field)
    current = await model.get_or_none(id=found.id, **live)
    if current is None:
        raise not_found(label, field)
    return contract, current


async def lock_contract_of_milestone(
    viewer: User, pk: int | None, field: str = "milestone_id"
) -> tuple[Contract, Milestone]:
    return await _lock_contract_of(viewer, Milestone, "Milestone", pk, field, deleted_at=None)


async def lock_contract_of_change_request(
    viewer: User, pk: int | None, field: str = "change_request_id"
) -> tuple[Contract, ChangeRequest]:
    return await _lock_contract_of(viewer, ChangeRequest, "Change request", pk, field)


async def lock_contract_of_refund_request(
    viewer: User, pk: int | None, field: str = "refund_request_id"
) -> tuple[Contract, RefundRequest]:
    return await _lock_contract_of(viewer, RefundRequest, "Refund request", pk, field)


async def lock_contract_of_dispute(
    viewer: User, pk: int | None, field: str = "dispute_id"
) -> tuple[Contract, Dispute]:
    return await _lock_contract_of(viewer, Dispute, "Dispute", pk, field)
