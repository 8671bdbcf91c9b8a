"""Mutation payloads: the objects acted on (null on refusal) and the user errors."""

from __future__ import annotations

import strawberry

from milestones.schema.enums import ErrorCode
from milestones.schema.types import (
    ChangeRequest,
    Contract,
    Milestone,
    RefundRequest,
    WebhookEndpoint,
)


@strawberry.type(description="An expected refusal; `field` is the input path in camelCase.")
class UserError:
    code: ErrorCode
    message: str
    field: str | None = None


@strawberry.type
class ContractPayload:
    contract: Contract | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type(description="What `sendBonus` did: the contract, with the bonus in its escrow.")
class BonusPayload:
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
    count: int | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


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
