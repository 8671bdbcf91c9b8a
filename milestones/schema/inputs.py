"""Mutation inputs. Optional fields default to UNSET so "omitted" and "null" differ."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import strawberry
from strawberry import UNSET

from milestones.schema.enums import ChangeKind, Decision, EventKind

KEY_DESCRIPTION = (
    "A new key (1 to 255 characters) per action, sent again with each retry of it: the same "
    "key with the same input answers the first result again and acts once; with other "
    "input, IDEMPOTENCY_CONFLICT. A refusal is not remembered."
)


@strawberry.input
class CreateContractInput:
    title: str
    freelancer_id: strawberry.ID
    currency: str | None = strawberry.field(default=UNSET, description="ISO 4217, default USD.")
    idempotency_key: str | None = strawberry.field(default=UNSET, description=KEY_DESCRIPTION)


@strawberry.input
class AddMilestoneInput:
    contract_id: strawberry.ID
    title: str
    amount: Decimal
    description: str | None = UNSET
    due_date: dt.date | None = UNSET
    idempotency_key: str | None = strawberry.field(default=UNSET, description=KEY_DESCRIPTION)


@strawberry.input(
    description="Omitted fields stay; an explicit null clears description or dueDate."
)
class EditMilestoneInput:
    milestone_id: strawberry.ID
    title: str | None = UNSET
    description: str | None = UNSET
    due_date: dt.date | None = UNSET
    amount: Decimal | None = UNSET
    expected_version: int | None = strawberry.field(
        default=UNSET, description="Refuse with VERSION_CONFLICT unless the milestone is at it."
    )
    idempotency_key: str | None = strawberry.field(default=UNSET, description=KEY_DESCRIPTION)


@strawberry.input
class DeleteMilestoneInput:
    milestone_id: strawberry.ID
    idempotency_key: str | None = strawberry.field(default=UNSET, description=KEY_DESCRIPTION)


@strawberry.input
class ActivateMilestoneInput:
    milestone_id: strawberry.ID
    idempotency_key: str | None = strawberry.field(default=UNSET, description=KEY_DESCRIPTION)


@strawberry.input
class SubmitMilestoneInput:
    milestone_id: strawberry.ID
    message: str | None = UNSET
    idempotency_key: str | None = strawberry.field(default=UNSET, description=KEY_DESCRIPTION)


@strawberry.input
class RejectSubmissionInput:
    milestone_id: strawberry.ID
    message: str | None = UNSET
    idempotency_key: str | None = strawberry.field(default=UNSET, description=KEY_DESCRIPTION)


@strawberry.input
class ApproveMilestoneInput:
    milestone_id: strawberry.ID
    end_contract: bool
    release_amount: Decimal | None = strawberry.field(
        default=UNSET, description="Default: all of the funded amount."
    )
    bonus_amount: Decimal | None = strawberry.field(
        default=UNSET, description="Paid to the freelancer on top of the release (BONUS_PAID)."
    )
    message: str | None = UNSET
    idempotency_key: str | None = strawberry.field(default=UNSET, description=KEY_DESCRIPTION)


@strawberry.input(description="A bonus from the client, deposited and released at once.")
class SendBonusInput:
    contract_id: strawberry.ID
    amount: Decimal
    message: str | None = UNSET
    idempotency_key: str | None = strawberry.field(default=UNSET, description=KEY_DESCRIPTION)


@strawberry.input
class RequestEscrowRefundInput:
    milestone_id: strawberry.ID
    message: str | None = UNSET
    idempotency_key: str | None = strawberry.field(default=UNSET, description=KEY_DESCRIPTION)


@strawberry.input
class RespondToRefundRequestInput:
    refund_request_id: strawberry.ID
    decision: Decision
    message: str | None = UNSET
    idempotency_key: str | None = strawberry.field(default=UNSET, description=KEY_DESCRIPTION)


@strawberry.input
class EndContractInput:
    contract_id: strawberry.ID
    message: str | None = UNSET
    idempotency_key: str | None = strawberry.field(default=UNSET, description=KEY_DESCRIPTION)


@strawberry.input
class MilestoneChangeInput:
    kind: ChangeKind
    milestone_id: strawberry.ID | None = strawberry.field(
        default=UNSET, description="For EDIT and DELETE."
    )
    title: str | None = UNSET
    description: str | None = UNSET
    due_date: dt.date | None = UNSET
    amount: Decimal | None = UNSET


@strawberry.input
class RequestMilestoneChangesInput:
    contract_id: strawberry.ID
    changes: list[MilestoneChangeInput]
    message: str | None = UNSET
    idempotency_key: str | None = strawberry.field(default=UNSET, description=KEY_DESCRIPTION)


@strawberry.input
class RespondToChangeRequestInput:
    change_request_id: strawberry.ID
    decision: Decision
    message: str | None = UNSET
    idempotency_key: str | None = strawberry.field(default=UNSET, description=KEY_DESCRIPTION)


@strawberry.input
class WithdrawChangeRequestInput:
    change_request_id: strawberry.ID
    idempotency_key: str | None = strawberry.field(default=UNSET, description=KEY_DESCRIPTION)


@strawberry.input
class MarkNotificationsReadInput:
    ids: list[strawberry.ID] | None = UNSET
    all: bool | None = UNSET
    idempotency_key: str | None = strawberry.field(default=UNSET, description=KEY_DESCRIPTION)


@strawberry.input(description="A new webhook endpoint for the viewer's notifications.")
class CreateWebhookEndpointInput:
    url: str = strawberry.field(
        description="Where to POST: https in production, to a public address; at most 2048 "
        "characters, no credentials."
    )
    kinds: list[EventKind] = strawberry.field(description="The notification kinds to send.")
    contract_id: strawberry.ID | None = strawberry.field(
        default=UNSET,
        description="Only this contract's notifications (the viewer must be a party).",
    )


@strawberry.input(description="Omitted fields stay as they are.")
class UpdateWebhookEndpointInput:
    id: strawberry.ID = strawberry.field(description="The endpoint to change.")
    url: str | None = strawberry.field(default=UNSET, description="A new URL.")
    kinds: list[EventKind] | None = strawberry.field(
        default=UNSET, description="The new set of kinds."
    )
    contract_id: strawberry.ID | None = strawberry.field(
        default=UNSET, description="Limit to this contract; null: every contract."
    )


@strawberry.input(description="The webhook endpoint to delete, with its pending deliveries.")
class DeleteWebhookEndpointInput:
    id: strawberry.ID = strawberry.field(description="The endpoint to delete.")
