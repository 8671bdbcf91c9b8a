"""GraphQL enums: the stored enums themselves, registered with strawberry."""

from __future__ import annotations

from enum import Enum

import strawberry

from milestones.domain.access import Role as ContractRole
from milestones.domain.errors import ErrorCode
from milestones.models.enums import (
    ChangeKind,
    ChangeRequestStatus,
    ContractStatus,
    EventKind,
    MilestoneStatus,
    RefundRequestStatus,
)

for _stored in (
    ContractStatus,
    MilestoneStatus,
    ChangeRequestStatus,
    RefundRequestStatus,
    ChangeKind,
    EventKind,
    ErrorCode,
):
    strawberry.enum(_stored)
strawberry.enum(ContractRole, name="ContractRole")


@strawberry.enum
class Decision(Enum):
    ACCEPT = "ACCEPT"
    DECLINE = "DECLINE"


__all__ = [
    "ChangeKind",
    "ChangeRequestStatus",
    "ContractRole",
    "ContractStatus",
    "Decision",
    "ErrorCode",
    "EventKind",
    "MilestoneStatus",
    "RefundRequestStatus",
]
