"""Baseline (c): strawberry resolving the contract room from in-memory Python objects.

A small schema of its own with the fields of `room_query.graphql`, default resolvers over
plain objects built from the project's own response: no database, no token, no loaders.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import Enum
from typing import Any

import strawberry


@strawberry.enum
class ContractStatus(Enum):
    ACTIVE = "ACTIVE"
    ENDED = "ENDED"


@strawberry.enum
class ContractRole(Enum):
    CLIENT = "CLIENT"
    FREELANCER = "FREELANCER"


@strawberry.enum
class MilestoneStatus(Enum):
    UPCOMING = "UPCOMING"
    ACTIVE = "ACTIVE"
    SUBMITTED = "SUBMITTED"
    RELEASED = "RELEASED"
    REFUNDED = "REFUNDED"


@strawberry.enum
class ChangeRequestStatus(Enum):
    PENDING = "PENDING"
    ACCEPTED = "ACCEPTED"
    DECLINED = "DECLINED"
    WITHDRAWN = "WITHDRAWN"


@strawberry.enum
class ChangeKind(Enum):
    ADD = "ADD"
    EDIT = "EDIT"
    DELETE = "DELETE"


@strawberry.type
class User:
    id: strawberry.ID
    name: str | None


@strawberry.type
class Escrow:
    held: Decimal
    available: Decimal
    total_funded: Decimal
    total_released: Decimal
    total_refunded: Decimal


@strawberry.type
class Milestone:
    id: strawberry.ID
    position: int
    title: str
    description: str | None
    due_date: dt.date | None
    amount: Decimal
    status: MilestoneStatus
    funded_amount: Decimal
    released_amount: Decimal
    refunded_amount: Decimal
    version: int


@strawberry.type
class MilestoneChange:
    kind: ChangeKind
    title: str | None
    amount: Decimal | None
    milestone: Milestone | None


@strawberry.type
class ChangeRequest:
    id: strawberry.ID
    status: ChangeRequestStatus
    message: str | None
    changes: list[MilestoneChange]


@strawberry.type
class Contract:
    id: strawberry.ID
    title: str
    currency: str
    status: ContractStatus
    viewer_role: ContractRole
    client: User
    freelancer: User
    escrow: Escrow
    milestones: list[Milestone]
    active_milestone: Milestone | None
    pending_change_request: ChangeRequest | None


ROOMS: dict[str, Contract] = {}


@strawberry.type
class Query:
    @strawberry.field
    def contract(self, id: strawberry.ID) -> Contract | None:
        return ROOMS.get(id)


schema = strawberry.Schema(query=Query)


def _money(value: str | None) -> Decimal | None:
    return Decimal(value) if value is not None else None


def _milestone(data: dict[str, Any]) -> Milestone:
    due = data["dueDate"]
    return Milestone(
        id=strawberry.ID(data["id"]),
        position=data["position"],
        title=data["title"],
        description=data["description"],
        due_date=dt.date.fromisoformat(due) if due else None,
        amount=Decimal(data["amount"]),
        status=MilestoneStatus(data["status"]),
        funded_amount=Decimal(data["fundedAmount"]),
        released_amount=Decimal(data["releasedAmount"]),
        refunded_amount=Decimal(data["refundedAmount"]),
        version=data["version"],
    )


def room_from_response(contract: dict[str, Any]) -> Contract:
    """Python objects for the `contract` of a room-query response (same values, same shape)."""
    milestones = [_milestone(m) for m in contract["milestones"]]
    by_id = {m.id: m for m in milestones}
    active = contract["activeMilestone"]
    pending = contract["pendingChangeRequest"]
    escrow = contract["escrow"]
    return Contract(
        id=strawberry.ID(contract["id"]),
        title=contract["title"],
        currency=contract["currency"],
        status=ContractStatus(contract["status"]),
        viewer_role=ContractRole(contract["viewerRole"]),
        client=User(id=contract["client"]["id"], name=contract["client"]["name"]),
        freelancer=User(id=contract["freelancer"]["id"], name=contract["freelancer"]["name"]),
        escrow=Escrow(
            held=Decimal(escrow["held"]),
            available=Decimal(escrow["available"]),
            total_funded=Decimal(escrow["totalFunded"]),
            total_released=Decimal(escrow["totalReleased"]),
            total_refunded=Decimal(escrow["totalRefunded"]),
        ),
        milestones=milestones,
        active_milestone=by_id[active["id"]] if active else None,
        pending_change_request=(
            ChangeRequest(
                id=strawberry.ID(pending["id"]),
                status=ChangeRequestStatus(pending["status"]),
                message=pending["message"],
                changes=[
                    MilestoneChange(
                        kind=ChangeKind(change["kind"]),
                        title=change["title"],
                        amount=_money(change["amount"]),
                        milestone=(
                            by_id.get(change["milestone"]["id"]) if change["milestone"] else None
                        ),
                    )
                    for change in pending["changes"]
                ],
            )
            if pending
            else None
        ),
    )
