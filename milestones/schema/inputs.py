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


@strawberry.input(description="Start a contract with a freelancer.")
class CreateContractInput:
    title: str = strawberry.field(
        description="What the contract is for, 1 to 200 characters after trimming."
    )
    freelancer_id: strawberry.ID = strawberry.field(
        description="The freelancer's user ID (`me.id` on their side; they must have signed in "
        "once)."
    )
    currency: str | None = strawberry.field(default=UNSET, description="ISO 4217, default USD.")
    idempotency_key: str | None = strawberry.field(default=UNSET, description=KEY_DESCRIPTION)


@strawberry.input(description="A new upcoming milestone, added at the end.")
class AddMilestoneInput:
    contract_id: strawberry.ID = strawberry.field(description="The contract's ID.")
    title: str = strawberry.field(
        description="What the work is, 1 to 200 characters after trimming."
    )
    amount: Decimal = strawberry.field(
        description="What it pays: positive, at most two decimal places, at most 9999999.99."
    )
    description: str | None = strawberry.field(
        default=UNSET, description="The work in more words, at most 5000 characters."
    )
    due_date: dt.date | None = strawberry.field(default=UNSET, description="When the work is due.")
    idempotency_key: str | None = strawberry.field(default=UNSET, description=KEY_DESCRIPTION)


@strawberry.input(
    description="Omitted fields stay; an explicit null clears description or dueDate."
)
class EditMilestoneInput:
    milestone_id: strawberry.ID = strawberry.field(description="The UPCOMING milestone's ID.")
    title: str | None = strawberry.field(
        default=UNSET,
        description="A new title, 1 to 200 characters after trimming; null is refused.",
    )
    description: str | None = strawberry.field(
        default=UNSET, description="A new description; null clears it."
    )
    due_date: dt.date | None = strawberry.field(
        default=UNSET, description="A new due date; null clears it."
    )
    amount: Decimal | None = strawberry.field(
        default=UNSET,
        description="A new amount: positive, at most two decimal places, at most 9999999.99.",
    )
    expected_version: int | None = strawberry.field(
        default=UNSET, description="Refuse with VERSION_CONFLICT unless the milestone is at it."
    )
    idempotency_key: str | None = strawberry.field(default=UNSET, description=KEY_DESCRIPTION)


@strawberry.input(description="Which upcoming milestone to delete.")
class DeleteMilestoneInput:
    milestone_id: strawberry.ID = strawberry.field(description="The UPCOMING milestone's ID.")
    idempotency_key: str | None = strawberry.field(default=UNSET, description=KEY_DESCRIPTION)


@strawberry.input(description="Which upcoming milestone to fund.")
class ActivateMilestoneInput:
    milestone_id: strawberry.ID = strawberry.field(description="The UPCOMING milestone's ID.")
    idempotency_key: str | None = strawberry.field(default=UNSET, description=KEY_DESCRIPTION)


@strawberry.input(description="The active milestone's work, submitted for review.")
class SubmitMilestoneInput:
    milestone_id: strawberry.ID = strawberry.field(description="The ACTIVE milestone's ID.")
    message: str | None = strawberry.field(
        default=UNSET, description="What you want to tell the other party, at most 5000 characters."
    )
    idempotency_key: str | None = strawberry.field(default=UNSET, description=KEY_DESCRIPTION)


@strawberry.input(description="Send the submitted work back.")
class RejectSubmissionInput:
    milestone_id: strawberry.ID = strawberry.field(description="The SUBMITTED milestone's ID.")
    message: str | None = strawberry.field(
        default=UNSET, description="Why, for the freelancer, at most 5000 characters."
    )
    idempotency_key: str | None = strawberry.field(default=UNSET, description=KEY_DESCRIPTION)


@strawberry.input(description="Approve a milestone and release its money.")
class ApproveMilestoneInput:
    milestone_id: strawberry.ID = strawberry.field(
        description="The ACTIVE or SUBMITTED milestone's ID."
    )
    end_contract: bool = strawberry.field(
        description="true: end the contract after the release; false: keep it open for the next "
        "milestones."
    )
    release_amount: Decimal | None = strawberry.field(
        default=UNSET,
        description="How much of the milestone's funded amount goes to the freelancer: positive, "
        "at most the funded amount; omitted: all of it.",
    )
    bonus_amount: Decimal | None = strawberry.field(
        default=UNSET,
        description="Paid to the freelancer on top of the release (BONUS_PAID): positive, "
        "deposited and released at once.",
    )
    message: str | None = strawberry.field(
        default=UNSET, description="What you want to tell the other party, at most 5000 characters."
    )
    idempotency_key: str | None = strawberry.field(default=UNSET, description=KEY_DESCRIPTION)


@strawberry.input(description="A bonus from the client, deposited and released at once.")
class SendBonusInput:
    contract_id: strawberry.ID = strawberry.field(description="The ACTIVE contract's ID.")
    amount: Decimal = strawberry.field(
        description="The bonus: positive, at most 9999999.99, in the contract's currency."
    )
    message: str | None = strawberry.field(
        default=UNSET, description="What you want to tell the other party, at most 5000 characters."
    )
    idempotency_key: str | None = strawberry.field(default=UNSET, description=KEY_DESCRIPTION)


@strawberry.input(description="Ask for the active milestone's money back.")
class RequestEscrowRefundInput:
    milestone_id: strawberry.ID = strawberry.field(
        description="The ACTIVE or SUBMITTED milestone's ID."
    )
    message: str | None = strawberry.field(
        default=UNSET, description="Why, for the freelancer, at most 5000 characters."
    )
    idempotency_key: str | None = strawberry.field(default=UNSET, description=KEY_DESCRIPTION)


@strawberry.input(description="The freelancer's answer to a refund request.")
class RespondToRefundRequestInput:
    refund_request_id: strawberry.ID = strawberry.field(
        description="The pending refund request's ID."
    )
    decision: Decision = strawberry.field(
        description="ACCEPT (the money goes back to the client) or DECLINE."
    )
    message: str | None = strawberry.field(
        default=UNSET, description="What you want to tell the other party, at most 5000 characters."
    )
    idempotency_key: str | None = strawberry.field(default=UNSET, description=KEY_DESCRIPTION)


@strawberry.input(description="Which contract to end.")
class EndContractInput:
    contract_id: strawberry.ID = strawberry.field(description="The contract's ID.")
    message: str | None = strawberry.field(
        default=UNSET, description="What you want to tell the other party, at most 5000 characters."
    )
    idempotency_key: str | None = strawberry.field(default=UNSET, description=KEY_DESCRIPTION)


@strawberry.input(description="One change of a change request.")
class MilestoneChangeInput:
    kind: ChangeKind = strawberry.field(
        description="ADD a milestone (title and amount needed), EDIT one or DELETE one."
    )
    milestone_id: strawberry.ID | None = strawberry.field(
        default=UNSET, description="For EDIT and DELETE."
    )
    title: str | None = strawberry.field(
        default=UNSET, description="ADD: the title; EDIT: a new title (omitted: unchanged)."
    )
    description: str | None = strawberry.field(
        default=UNSET,
        description="ADD: the description; EDIT: a new one (null clears it, omitted: unchanged).",
    )
    due_date: dt.date | None = strawberry.field(
        default=UNSET,
        description="ADD: the due date; EDIT: a new one (null clears it, omitted: unchanged).",
    )
    amount: Decimal | None = strawberry.field(
        default=UNSET, description="ADD: the amount; EDIT: a new one (omitted: unchanged)."
    )


@strawberry.input(description="Changes to the upcoming milestones, proposed to the client.")
class RequestMilestoneChangesInput:
    contract_id: strawberry.ID = strawberry.field(description="The contract's ID.")
    changes: list[MilestoneChangeInput] = strawberry.field(
        description="One or more changes, applied together if the client accepts."
    )
    message: str | None = strawberry.field(
        default=UNSET, description="What you want to tell the other party, at most 5000 characters."
    )
    idempotency_key: str | None = strawberry.field(default=UNSET, description=KEY_DESCRIPTION)


@strawberry.input(description="The client's answer to a change request.")
class RespondToChangeRequestInput:
    change_request_id: strawberry.ID = strawberry.field(
        description="The pending change request's ID."
    )
    decision: Decision = strawberry.field(
        description="ACCEPT (all changes apply at once) or DECLINE (nothing changes)."
    )
    message: str | None = strawberry.field(
        default=UNSET, description="What you want to tell the other party, at most 5000 characters."
    )
    idempotency_key: str | None = strawberry.field(default=UNSET, description=KEY_DESCRIPTION)


@strawberry.input(description="Which change request to take back.")
class WithdrawChangeRequestInput:
    change_request_id: strawberry.ID = strawberry.field(
        description="The pending change request's ID."
    )
    idempotency_key: str | None = strawberry.field(default=UNSET, description=KEY_DESCRIPTION)


@strawberry.input(description="Which of the viewer's notifications to mark read: `ids` or `all`.")
class MarkNotificationsReadInput:
    ids: list[strawberry.ID] | None = strawberry.field(
        default=UNSET, description="Up to 100 notification IDs (each must be the viewer's)."
    )
    all: bool | None = strawberry.field(
        default=UNSET, description="true: every unread notification of the viewer."
    )
    idempotency_key: str | None = strawberry.field(default=UNSET, description=KEY_DESCRIPTION)


@strawberry.input(description="The viewer's email settings; omitted fields stay as they are.")
class UpdateNotificationSettingsInput:
    email_enabled: bool | None = strawberry.field(
        default=UNSET, description="false: no notification emails at all; true: emails again."
    )
    muted_email_kinds: list[EventKind] | None = strawberry.field(
        default=UNSET,
        description="The kinds never to email (replaces the whole set; [] mutes none).",
    )
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
    idempotency_key: str | None = strawberry.field(default=UNSET, description=KEY_DESCRIPTION)


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
    idempotency_key: str | None = strawberry.field(default=UNSET, description=KEY_DESCRIPTION)


@strawberry.input(description="The webhook endpoint to delete, with its pending deliveries.")
class DeleteWebhookEndpointInput:
    id: strawberry.ID = strawberry.field(description="The endpoint to delete.")
    idempotency_key: str | None = strawberry.field(default=UNSET, description=KEY_DESCRIPTION)
