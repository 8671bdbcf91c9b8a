"""What a user asks the domain to do: one typed command per action.

The front that received the request builds the command: ids decoded to keys (None when the
client's id names nothing of that kind), money in minor units, dates, trimmed text, OMITTED
for a field that was not sent. What it could not parse travels as `problems`, raised at the
VALIDATION step of the action, so the order of refusals stays NOT_FOUND, FORBIDDEN,
IDEMPOTENCY_CONFLICT, VALIDATION, then the state of the contract. Problem fields name the
command's own attributes (`release_amount`, `changes.0.milestone_id`).

`operation` names the action in the idempotency table (kept as the names the table already
holds, so keys stored before a deploy still replay).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import IO, Any, ClassVar, Final

from milestones.domain.errors import Problem
from milestones.domain.values import DEFAULT_CURRENCY, OMITTED, Omitted
from milestones.models.enums import ChangeKind, EventKind, TeamRole


@dataclass(frozen=True, slots=True, kw_only=True)
class Command:
    operation: ClassVar[str]
    idempotency_key: str | None = None
    problems: tuple[Problem, ...] = ()


@dataclass(frozen=True, slots=True)
class MilestoneEdit:
    """The fields an edit sets: OMITTED stays as it is; None clears description or due date."""

    title: str | Omitted = OMITTED
    description: str | Omitted | None = OMITTED
    due_date: dt.date | Omitted | None = OMITTED
    amount: int | Omitted = OMITTED

    def changes(self) -> dict[str, Any]:
        """Column -> new value, for the fields that were sent."""
        sent = {
            "title": self.title,
            "description": self.description,
            "due_date": self.due_date,
            "amount": self.amount,
        }
        return {name: value for name, value in sent.items() if value is not OMITTED}


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateContract(Command):
    """An offer to the freelancer named by id or (normalised) email: exactly one is given."""

    operation = "createContract"
    title: str
    freelancer_id: int | None
    currency: str = DEFAULT_CURRENCY
    freelancer_email: str | None = None
    # Team sides: the client's company (the viewer must be its OWNER or ADMIN), and the agency
    # an offer goes to (instead of a freelancer by id or email).
    client_team_id: int | None = None
    freelancer_team_id: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AcceptContract(Command):
    operation = "acceptContract"
    contract_id: int | None
    message: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DeclineContract(Command):
    operation = "declineContract"
    contract_id: int | None
    message: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class EndContract(Command):
    operation = "endContract"
    contract_id: int | None
    message: str | None = None
    pay_amount: int = 0  # the client's: released to the freelancer before the rest is asked back


@dataclass(frozen=True, slots=True, kw_only=True)
class AddMilestone(Command):
    operation = "addMilestone"
    contract_id: int | None
    title: str
    amount: int
    description: str | None = None
    due_date: dt.date | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class EditMilestone(Command):
    operation = "editMilestone"
    milestone_id: int | None
    edit: MilestoneEdit
    expected_version: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteMilestone(Command):
    operation = "deleteMilestone"
    milestone_id: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ActivateMilestone(Command):
    operation = "activateMilestone"
    milestone_id: int | None


@dataclass(frozen=True, slots=True)
class AttachmentFile:
    """A file sent with a submission: its name and media type as the client gave them (made
    safe), its size and sha256 measured while it was received, and the temporary file its
    bytes wait in (None for a file that was never read: the command is refused anyway)."""

    filename: str
    content_type: str
    size: int
    sha256: str
    # Not part of the idempotency digest (sha256 is): see `idempotency.command_digest`.
    content: IO[bytes] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class SubmitMilestone(Command):
    operation = "submitMilestone"
    milestone_id: int | None
    message: str | None = None
    attachments: tuple[AttachmentFile, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class RejectSubmission(Command):
    operation = "rejectSubmission"
    milestone_id: int | None
    message: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ApproveMilestone(Command):
    operation = "approveMilestone"
    milestone_id: int | None
    end_contract: bool
    release_amount: int | None = None  # None: all of the funded amount
    bonus_amount: int | None = None
    message: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SendBonus(Command):
    operation = "sendBonus"
    contract_id: int | None
    amount: int
    message: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestEscrowRefund(Command):
    operation = "requestEscrowRefund"
    milestone_id: int | None
    message: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RespondToRefundRequest(Command):
    operation = "respondToRefundRequest"
    refund_request_id: int | None
    accept: bool
    message: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class OpenDispute(Command):
    """On a pending refund request, or on the active milestone (exactly one is named)."""

    operation = "openDispute"
    refund_request_id: int | None = None
    milestone_id: int | None = None
    message: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RespondToDispute(Command):
    operation = "respondToDispute"
    dispute_id: int | None
    accept: bool
    message: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ResolveDispute(Command):
    operation = "resolveDispute"
    dispute_id: int | None
    release_amount: int
    message: str | None = None


@dataclass(frozen=True, slots=True)
class Change:
    """One change of a change request; `milestone_id` for EDIT and DELETE."""

    kind: ChangeKind
    milestone_id: int | None = None
    edit: MilestoneEdit = field(default_factory=MilestoneEdit)


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestMilestoneChanges(Command):
    operation = "requestMilestoneChanges"
    contract_id: int | None
    changes: tuple[Change, ...]
    message: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RespondToChangeRequest(Command):
    operation = "respondToChangeRequest"
    change_request_id: int | None
    accept: bool
    message: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class WithdrawChangeRequest(Command):
    operation = "withdrawChangeRequest"
    change_request_id: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class MarkNotificationsRead(Command):
    operation = "markNotificationsRead"
    ids: tuple[int | None, ...] = ()
    all: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateNotificationSettings(Command):
    """OMITTED fields stay as they are; `muted_email_kinds` replaces the whole set."""

    operation = "updateNotificationSettings"
    email_enabled: bool | Omitted = OMITTED
    muted_email_kinds: tuple[EventKind, ...] | Omitted = OMITTED  # sorted, without repeats


class Every(StrEnum):
    """A webhook endpoint's `contract_id` when it is not limited to one contract."""

    CONTRACT = "every contract"


EVERY_CONTRACT: Final = Every.CONTRACT


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateWebhookEndpoint(Command):
    operation = "createWebhookEndpoint"
    url: str
    kinds: tuple[EventKind, ...]  # sorted, without repeats: one set has one digest
    contract_id: int | Every | None = EVERY_CONTRACT


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateWebhookEndpoint(Command):
    """OMITTED fields stay as they are."""

    operation = "updateWebhookEndpoint"
    id: int | None  # the endpoint's key, named as the input names it
    url: str | Omitted = OMITTED
    kinds: tuple[EventKind, ...] | Omitted = OMITTED
    contract_id: int | Every | Omitted | None = OMITTED


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteWebhookEndpoint(Command):
    operation = "deleteWebhookEndpoint"
    id: int | None  # the endpoint's key, named as the input names it


# Teams: a member is named by their email, normalised (trimmed, lower case) at the edge.


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateTeam(Command):
    operation = "createTeam"
    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AddTeamMember(Command):
    operation = "addTeamMember"
    team_id: int | None
    email: str
    role: TeamRole


@dataclass(frozen=True, slots=True, kw_only=True)
class ChangeTeamMemberRole(Command):
    operation = "changeTeamMemberRole"
    team_id: int | None
    email: str
    role: TeamRole


@dataclass(frozen=True, slots=True, kw_only=True)
class RemoveTeamMember(Command):
    operation = "removeTeamMember"
    team_id: int | None
    email: str
