"""Mutation payloads: the objects acted on (null on refusal) and the user errors."""

from __future__ import annotations

import strawberry

from milestones.schema.enums import ErrorCode
from milestones.schema.types import (
    ChangeRequest,
    Contract,
    Dispute,
    Milestone,
    Notification,
    NotificationSettings,
    RefundRequest,
    Team,
    WebhookEndpoint,
)


@strawberry.type(description="An expected refusal; `field` is the input path in camelCase.")
class UserError:
    code: ErrorCode = strawberry.field(description="Why, as a code a program can act on.")
    message: str = strawberry.field(description="Why, in a sentence a person can read.")
    field: str | None = strawberry.field(
        default=None,
        description="The input field it concerns, as a camelCase path (`amount`, "
        "`changes.1.amount`); null when it concerns no one field.",
    )


USER_ERRORS = "Why the mutation was refused; empty when it succeeded. A refusal changes nothing."
CONTRACT = "The contract, as it is after the mutation; null if refused."


@strawberry.type(description="The result of a mutation on a contract.")
class ContractPayload:
    contract: Contract | None = strawberry.field(default=None, description=CONTRACT)
    user_errors: list[UserError] = strawberry.field(default_factory=list, description=USER_ERRORS)


@strawberry.type(description="What `sendBonus` did: the contract, with the bonus in its escrow.")
class BonusPayload:
    contract: Contract | None = strawberry.field(default=None, description=CONTRACT)
    user_errors: list[UserError] = strawberry.field(default_factory=list, description=USER_ERRORS)


@strawberry.type(description="The result of a mutation on a milestone.")
class MilestonePayload:
    milestone: Milestone | None = strawberry.field(
        default=None, description="The milestone, as it is after the mutation; null if refused."
    )
    contract: Contract | None = strawberry.field(default=None, description=CONTRACT)
    user_errors: list[UserError] = strawberry.field(default_factory=list, description=USER_ERRORS)


@strawberry.type(description="The result of deleting a milestone.")
class DeleteMilestonePayload:
    deleted_milestone_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="The deleted milestone's ID, to drop from a client cache; null if refused.",
    )
    contract: Contract | None = strawberry.field(default=None, description=CONTRACT)
    user_errors: list[UserError] = strawberry.field(default_factory=list, description=USER_ERRORS)


@strawberry.type(description="The result of a mutation on a change request.")
class ChangeRequestPayload:
    change_request: ChangeRequest | None = strawberry.field(
        default=None,
        description="The change request, as it is after the mutation; null if refused.",
    )
    contract: Contract | None = strawberry.field(default=None, description=CONTRACT)
    user_errors: list[UserError] = strawberry.field(default_factory=list, description=USER_ERRORS)


@strawberry.type(description="The result of a mutation on a refund request.")
class RefundRequestPayload:
    refund_request: RefundRequest | None = strawberry.field(
        default=None,
        description="The refund request, as it is after the mutation; null if refused.",
    )
    milestone: Milestone | None = strawberry.field(
        default=None,
        description="The milestone whose money it concerns, as it is after; null if refused "
        "or when it concerns only the `available` money of an ended contract.",
    )
    contract: Contract | None = strawberry.field(default=None, description=CONTRACT)
    user_errors: list[UserError] = strawberry.field(default_factory=list, description=USER_ERRORS)


@strawberry.type(description="The result of a mutation on a dispute.")
class DisputePayload:
    dispute: Dispute | None = strawberry.field(
        default=None, description="The dispute, as it is after the mutation; null if refused."
    )
    contract: Contract | None = strawberry.field(default=None, description=CONTRACT)
    user_errors: list[UserError] = strawberry.field(default_factory=list, description=USER_ERRORS)


@strawberry.type(description="The result of marking notifications read.")
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
    user_errors: list[UserError] = strawberry.field(default_factory=list, description=USER_ERRORS)


@strawberry.type(description="The new endpoint and its signing secret, shown this once only.")
class CreateWebhookEndpointPayload:
    webhook_endpoint: WebhookEndpoint | None = strawberry.field(
        default=None, description="The endpoint created."
    )
    secret: str | None = strawberry.field(
        default=None,
        description="The Standard Webhooks signing secret (`whsec_…`): keep it now, it is "
        "never shown again.",
    )
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why it was refused; empty when it was done."
    )


@strawberry.type(description="The viewer's email settings after the change.")
class UpdateNotificationSettingsPayload:
    notification_settings: NotificationSettings | None = strawberry.field(
        default=None, description="The settings now in force."
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list, description=USER_ERRORS)


@strawberry.type(description="The endpoint as changed.")
class UpdateWebhookEndpointPayload:
    webhook_endpoint: WebhookEndpoint | None = strawberry.field(
        default=None, description="The endpoint changed."
    )
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why it was refused; empty when it was done."
    )


@strawberry.type(description="Which endpoint was deleted.")
class DeleteWebhookEndpointPayload:
    deleted_webhook_endpoint_id: strawberry.ID | None = strawberry.field(
        default=None, description="The ID of the deleted endpoint."
    )
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why it was refused; empty when it was done."
    )


@strawberry.type(description="The result of a team mutation.")
class TeamPayload:
    team: Team | None = strawberry.field(
        default=None, description="The team, as it is after the mutation; null if refused."
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list, description=USER_ERRORS)
