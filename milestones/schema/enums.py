"""GraphQL enums; their values are the stored ones."""

from __future__ import annotations

from enum import Enum

import strawberry

from milestones.domain.access import Role
from milestones.domain.errors import ErrorCode as DomainErrorCode
from milestones.models import enums as stored

ContractStatus = strawberry.enum(stored.ContractStatus, name="ContractStatus")
MilestoneStatus = strawberry.enum(stored.MilestoneStatus, name="MilestoneStatus")
ChangeRequestStatus = strawberry.enum(stored.ChangeRequestStatus, name="ChangeRequestStatus")
RefundRequestStatus = strawberry.enum(stored.RefundRequestStatus, name="RefundRequestStatus")
ChangeKind = strawberry.enum(stored.ChangeKind, name="ChangeKind")
EventKind = strawberry.enum(stored.EventKind, name="EventKind")
ContractRole = strawberry.enum(Role, name="ContractRole")
ErrorCode = strawberry.enum(DomainErrorCode, name="ErrorCode")


@strawberry.enum
class Decision(Enum):
    ACCEPT = "ACCEPT"
    DECLINE = "DECLINE"
