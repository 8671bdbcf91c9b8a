"""Mutation inputs. Optional fields default to UNSET so "omitted" and "null" differ."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import strawberry
from strawberry import UNSET
from strawberry.file_uploads import Upload

from milestones.schema.enums import ChangeKind, Decision, DisputeDecision, EventKind, TeamRole

KEY_DESCRIPTION = (
    "A new key (1 to 255 characters) per action, sent again with each retry of it: the same "
    "key with the same input answers the first result again and acts once; with other "
    "input, IDEMPOTENCY_CONFLICT. A refusal is not remembered."
)


@strawberry.input(
    description="Offer a contract to a freelancer, named by exactly one of freelancerId or "
    "freelancerEmail."
)
class CreateContractInput:
    title: str = strawberry.field(
        description="What the contract is for, 1 to 200 characters after trimming."
    )
    freelancer_id: strawberry.ID | None = strawberry.field(
        default=UNSET,
        description="The freelancer's user ID (`me.id` on their side; they must have signed in "
        "once).",
    )
    freelancer_email: str | None = strawberry.field(
        default=UNSET,
        description="The freelancer's email address, for someone who may not have signed in "
        "yet: the offer goes to the first user whose token's `email` claim is this address "
        "(compared case-insensitively, trimmed); until then only the client sees it.",
    )
    currency: str | None = strawberry.field(default=UNSET, description="ISO 4217, default USD.")
    client_team_id: strawberry.ID | None = strawberry.field(
        default=UNSET,
        description="Make a team (the viewer's company) the client side: its OWNERs and "
        "ADMINs act as the client, its MEMBERs see the room. The viewer must be its OWNER or "
        "ADMIN (NOT_FOUND if not in it, FORBIDDEN if a MEMBER).",
    )
    freelancer_team_id: strawberry.ID | None = strawberry.field(
        default=UNSET,
        description="Offer the contract to a team (an agency) instead of a person: every one "
        "of its members sees the offer, one of its OWNERs or ADMINs accepts it and becomes "
        "`freelancer`; then its OWNERs and ADMINs act as the freelancer and its MEMBERs may "
        "submit work.",
    )
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
        default=UNSET,
        description="What you want to tell the other party, at most 5000 characters; kept on "
        "the submission.",
    )
    attachments: list[Upload] | None = strawberry.field(
        default=UNSET,
        description="Files of the work, at most 10, each at most MAX_UPLOAD_BYTES (10 MiB by "
        "default): sent as a GraphQL multipart request (multipart/form-data on /graphql, with "
        "a `GraphQL-Preflight: 1` header), the only operation that accepts one.",
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


@strawberry.input(description="Which contract to end, and (client) what to pay on the way out.")
class EndContractInput:
    contract_id: strawberry.ID = strawberry.field(description="The contract's ID.")
    message: str | None = strawberry.field(
        default=UNSET, description="What you want to tell the other party, at most 5000 characters."
    )
    pay_amount: Decimal | None = strawberry.field(
        default=UNSET,
        description="Client only: how much of the money held goes to the freelancer now (the "
        "active milestone's funds first); 0 to at most `escrow.held`, omitted: 0. The rest "
        "becomes a refund request to the freelancer.",
    )
    idempotency_key: str | None = strawberry.field(default=UNSET, description=KEY_DESCRIPTION)


@strawberry.input(
    description="What the freelancer disputes: a pending refund request or the active "
    "milestone (exactly one of the two)."
)
class OpenDisputeInput:
    refund_request_id: strawberry.ID | None = strawberry.field(
        default=UNSET, description="A pending refund request: disputed instead of answered."
    )
    milestone_id: strawberry.ID | None = strawberry.field(
        default=UNSET,
        description="The active milestone, submitted at least once: the client withholds payment.",
    )
    message: str | None = strawberry.field(
        default=UNSET, description="Why, for the client (and a mediator), at most 5000 characters."
    )
    idempotency_key: str | None = strawberry.field(default=UNSET, description=KEY_DESCRIPTION)


@strawberry.input(description="The client's answer to a dispute awaiting them.")
class RespondToDisputeInput:
    dispute_id: strawberry.ID = strawberry.field(description="The dispute's ID.")
    decision: DisputeDecision = strawberry.field(
        description="ACCEPT (the disputed amount goes to the freelancer) or REJECT (mediation)."
    )
    message: str | None = strawberry.field(
        default=UNSET, description="What you want to tell the other party, at most 5000 characters."
    )
    idempotency_key: str | None = strawberry.field(default=UNSET, description=KEY_DESCRIPTION)


@strawberry.input(description="A mediator's decision on a dispute in mediation.")
class ResolveDisputeInput:
    dispute_id: strawberry.ID = strawberry.field(description="The dispute's ID.")
    release_amount: Decimal = strawberry.field(
        description="What goes to the freelancer: 0 to the disputed amount; the rest goes back "
        "to the client."
    )
    message: str | None = strawberry.field(
        default=UNSET, description="The reasons, for both parties, at most 5000 characters."
    )
    idempotency_key: str | None = strawberry.field(default=UNSET, description=KEY_DESCRIPTION)


@strawberry.input(description="The freelancer party accepts an offer: the contract is ACTIVE.")
class AcceptContractInput:
    contract_id: strawberry.ID = strawberry.field(description="The offered contract's ID.")
    message: str | None = strawberry.field(
        default=UNSET, description="What you want to tell the client, at most 5000 characters."
    )
    idempotency_key: str | None = strawberry.field(default=UNSET, description=KEY_DESCRIPTION)


@strawberry.input(description="The freelancer party declines an offer: the contract is DECLINED.")
class DeclineContractInput:
    contract_id: strawberry.ID = strawberry.field(description="The offered contract's ID.")
    message: str | None = strawberry.field(
        default=UNSET, description="Why, for the client, at most 5000 characters."
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


TEAM_ID = "The team's ID."
MEMBER_EMAIL = (
    "The member's email address, compared trimmed and case-insensitively; they join as the "
    "user whose token carries it (now, or when they first sign in)."
)


@strawberry.input(description="A new team; the viewer becomes its first OWNER.")
class CreateTeamInput:
    name: str = strawberry.field(description="The team's name, 1 to 200 characters after trimming.")
    idempotency_key: str | None = strawberry.field(default=UNSET, description=KEY_DESCRIPTION)


@strawberry.input(description="Add someone to a team, by email, in a role.")
class AddTeamMemberInput:
    team_id: strawberry.ID = strawberry.field(description=TEAM_ID)
    email: str = strawberry.field(description=MEMBER_EMAIL)
    role: TeamRole = strawberry.field(description="Their role in the team.")
    idempotency_key: str | None = strawberry.field(default=UNSET, description=KEY_DESCRIPTION)


@strawberry.input(description="Change a member's role.")
class ChangeTeamMemberRoleInput:
    team_id: strawberry.ID = strawberry.field(description=TEAM_ID)
    email: str = strawberry.field(description="The member's email address.")
    role: TeamRole = strawberry.field(description="Their new role.")
    idempotency_key: str | None = strawberry.field(default=UNSET, description=KEY_DESCRIPTION)


@strawberry.input(description="Remove a member from a team.")
class RemoveTeamMemberInput:
    team_id: strawberry.ID = strawberry.field(description=TEAM_ID)
    email: str = strawberry.field(description="The member's email address.")
    idempotency_key: str | None = strawberry.field(default=UNSET, description=KEY_DESCRIPTION)
