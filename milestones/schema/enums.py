"""GraphQL enums: the stored enums themselves, registered with strawberry and described here
in the workflow's words (a stored `StrEnum` cannot hold strawberry's `enum_value`)."""

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
    SubmissionOutcome,
)


def describe(
    enum: type[Enum], description: str, values: dict[str, str], *, name: str | None = None
) -> None:
    """Register a stored enum with a description for itself and for each of its values."""
    missing = {member.name for member in enum} - values.keys()
    if missing:
        raise TypeError(f"{enum.__name__}: no description for {sorted(missing)}")
    strawberry.enum(enum, name=name, description=description)
    for value in enum.__strawberry_definition__.values:  # type: ignore[attr-defined]
        value.description = values[value.name]


describe(
    ContractStatus,
    "Where a contract stands.",
    {
        "ACTIVE": "Work and payments go on: milestones can be funded, submitted and approved.",
        "ENDED": "Ended by a party (`endContract`, or `approveMilestone` with `endContract`): "
        "upcoming milestones are frozen and mutations that change the work answer "
        "CONTRACT_ENDED.",
    },
)
describe(
    MilestoneStatus,
    "Where a milestone stands. UPCOMING -> ACTIVE (funded) -> SUBMITTED -> RELEASED, or "
    "REFUNDED from ACTIVE or SUBMITTED.",
    {
        "UPCOMING": "Not funded yet: the client may still edit or delete it, or activate it.",
        "ACTIVE": "Funded into escrow and being worked on (one per contract at a time).",
        "SUBMITTED": "The freelancer submitted the work; the client approves or rejects it. Its "
        "money is still in escrow.",
        "RELEASED": "Approved: its money (all or part) went to the freelancer. Final.",
        "REFUNDED": "Its money went back to the client through an accepted refund request. Final.",
    },
)
describe(
    SubmissionOutcome,
    "What became of a submission.",
    {
        "PENDING": "Waiting for the client: approve, reject, or let the review deadline pass.",
        "REJECTED": "The client sent it back (`rejectSubmission`); `responseMessage` says why.",
        "APPROVED": "The client approved the milestone (`approveMilestone`).",
        "AUTO_RELEASED": "The review deadline passed without an answer: the milestone's money "
        "was released to the freelancer.",
    },
)
describe(
    ChangeRequestStatus,
    "Where a change request stands.",
    {
        "PENDING": "Waiting for the client's answer (at most one per contract).",
        "ACCEPTED": "The client accepted: all its changes were applied at once.",
        "DECLINED": "The client declined, or the contract ended: nothing changed.",
        "WITHDRAWN": "The freelancer took it back before an answer: nothing changed.",
    },
)
describe(
    RefundRequestStatus,
    "Where a refund request stands.",
    {
        "PENDING": "Waiting for the freelancer's answer; the milestone cannot be submitted, "
        "approved or rejected meanwhile.",
        "ACCEPTED": "The freelancer accepted: the milestone's money went back to the client.",
        "DECLINED": "The freelancer declined: nothing changed.",
    },
)
describe(
    ChangeKind,
    "What one change of a change request does to the upcoming milestones.",
    {
        "ADD": "Add a new upcoming milestone at the end (needs `title` and `amount`).",
        "EDIT": "Edit an upcoming milestone (`milestoneId`, and the fields that change).",
        "DELETE": "Delete an upcoming milestone (`milestoneId`); later positions close the gap.",
    },
)
describe(
    EventKind,
    "What happened: the kind of a contract room's event, and of the notification it gave "
    "the other party.",
    {
        "CONTRACT_CREATED": "The client started the contract.",
        "MILESTONE_ADDED": "The client added an upcoming milestone.",
        "MILESTONE_EDITED": "The client edited an upcoming milestone.",
        "MILESTONE_DELETED": "The client deleted an upcoming milestone.",
        "MILESTONE_ACTIVATED": "The client funded a milestone into escrow; work can start.",
        "MILESTONE_SUBMITTED": "The freelancer submitted the active milestone's work.",
        "SUBMISSION_REJECTED": "The client rejected the submission; the milestone is active again.",
        "MILESTONE_APPROVED": "The client approved the milestone and released its money (in "
        "full or in part).",
        "REFUND_REQUESTED": "The client asked for the active milestone's money back.",
        "REFUND_ACCEPTED": "The freelancer accepted the refund request; the money went back.",
        "REFUND_DECLINED": "The freelancer declined the refund request.",
        "CHANGE_REQUEST_SUBMITTED": "The freelancer proposed changes to the upcoming milestones.",
        "CHANGE_REQUEST_ACCEPTED": "The client accepted the change request; its changes applied.",
        "CHANGE_REQUEST_DECLINED": "The client declined the change request.",
        "CHANGE_REQUEST_WITHDRAWN": "The freelancer withdrew the change request.",
        "CONTRACT_ENDED": "A party ended the contract.",
        "BONUS_PAID": "The client paid the freelancer a bonus (deposited and released at once).",
        "MILESTONE_AUTO_RELEASED": "The review window ended without an answer from the client: "
        "the milestone's money was released (no actor).",
        "REFUND_AUTO_ACCEPTED": "The freelancer did not answer the refund request in time: it "
        "was accepted (no actor).",
    },
)
describe(
    ErrorCode,
    "Why a mutation was refused (`UserError.code`). Checks run in this order and the first "
    "failing kind answers: NOT_FOUND, FORBIDDEN, IDEMPOTENCY_CONFLICT, VALIDATION, then the "
    "state of the contract.",
    {
        "FORBIDDEN": "A party acting outside its role (e.g. the freelancer adding a milestone).",
        "NOT_FOUND": "No such object, or the viewer is not a party to its contract (never a "
        "hint that it exists).",
        "VALIDATION": "A bad input value; `field` names it (one error per bad field).",
        "CONTRACT_ENDED": "The contract has ended: nothing about its work can change.",
        "MILESTONE_NOT_UPCOMING": "Only an UPCOMING milestone can be edited, deleted or activated.",
        "MILESTONE_NOT_ACTIVE": "The action needs an ACTIVE (or, for approve and refund, a "
        "SUBMITTED) milestone.",
        "MILESTONE_NOT_SUBMITTED": "Rejecting needs a SUBMITTED milestone.",
        "ANOTHER_MILESTONE_ACTIVE": "Another milestone is funded: release or refund it before "
        "activating the next.",
        "CHANGE_REQUEST_PENDING": "A change request is pending: the client cannot change "
        "upcoming milestones, and the freelancer cannot send another.",
        "REFUND_REQUEST_PENDING": "A refund request is pending on the active milestone: it "
        "cannot be submitted, approved or rejected, nor refunded twice.",
        "NOT_PENDING": "The change or refund request was already answered or withdrawn.",
        "FUNDS_IN_ESCROW": "A milestone is still funded: approve it or have its refund "
        "accepted before ending the contract.",
        "VERSION_CONFLICT": "`expectedVersion` is not the milestone's current `version`: "
        "someone changed it since you read it.",
        "IDEMPOTENCY_CONFLICT": "This `idempotencyKey` was already used by you for this "
        "mutation with a different input.",
    },
)
describe(
    ContractRole,
    "The viewer's side of a contract.",
    {
        "CLIENT": "The party who pays: funds, approves, rejects, asks for refunds, answers "
        "change requests.",
        "FREELANCER": "The party who works: submits, answers refund requests, proposes changes.",
    },
    name="ContractRole",
)


@strawberry.enum(description="An answer to a change request or a refund request.")
class Decision(Enum):
    ACCEPT = strawberry.enum_value("ACCEPT", description="Accept: the request takes effect.")
    DECLINE = strawberry.enum_value("DECLINE", description="Decline: nothing changes.")


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
    "SubmissionOutcome",
]
