"""Mutation payloads: the objects acted on (null on refusal) and the user errors."""

from __future__ import annotations

import strawberry

from milestones.schema.enums import ErrorCode
from milestones.schema.types import ChangeRequest, Contract, Milestone, Notification, RefundRequest


@strawberry.type(description="An expected refusal; `field` is the input path in camelCase.")
class UserError:
    code: ErrorCode
    message: str
    field: str | None = None


@strawberry.type
class ContractPayload:
    contract: Contract | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class MilestonePayload:
    milestone: Milestone | None = None
    contract: Contract | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class DeleteMilestonePayload:
    deleted_milestone_id: strawberry.ID | None = None
    contract: Contract | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ChangeRequestPayload:
    change_request: ChangeRequest | None = None
    contract: Contract | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class RefundRequestPayload:
    refund_request: RefundRequest | None = None
    milestone: Milestone | None = None
    contract: Contract | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class MarkNotificationsReadPayload:
    count: int | None = strawberry.field(
        default=None, description="How many notifications this call turned from unread to read."
    )
    notifications: list[Notification] | None = strawberry.field(
        default=None,
        description="The notifications this call marked read, newest first (none that were "
        "read already), with their new `readAt`.",
    )
    unread_count: int | None = strawberry.field(
        default=None, description="How many of the viewer's notifications are unread after it."
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list)
