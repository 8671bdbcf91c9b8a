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
    DisputeResolutionKind,
    DisputeStatus,
    EventKind,
    MilestoneStatus,
    RefundRequestStatus,
    SubmissionOutcome,
    TeamRole,
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
        "OFFERED": "An offer waiting for the freelancer party's `acceptContract` or "
        "`declineContract`: the client may prepare milestones; funding, submitting, change "
        "and refund requests answer CONTRACT_NOT_ACCEPTED. The client may withdraw it with "
        "`endContract`.",
        "ACTIVE": "Work and payments go on: milestones can be funded, submitted and approved.",
        "ENDED": "Ended by a party (`endContract`, or `approveMilestone` with `endContract`): "
        "upcoming milestones are frozen and mutations that change the work answer "
        "CONTRACT_ENDED.",
        "DECLINED": "The freelancer party declined the offer, or the client withdrew it. Final, "
        "like ENDED: mutations that change it answer CONTRACT_ENDED.",
    },
)
describe(
    MilestoneStatus,
    "Where a milestone stands. UPCOMING -> ACTIVE (funded) -> SUBMITTED -> RELEASED, or "
    "REFUNDED from ACTIVE or SUBMITTED; UPCOMING -> DELETED.",
    {
        "UPCOMING": "Not funded yet: the client may still edit or delete it, or activate it.",
        "ACTIVE": "Funded into escrow and being worked on (one per contract at a time).",
        "SUBMITTED": "The freelancer submitted the work; the client approves or rejects it. Its "
        "money is still in escrow.",
        "RELEASED": "Approved: its money (all or part) went to the freelancer. Final.",
        "REFUNDED": "Its money went back to the client through an accepted refund request. Final.",
        "DELETED": "Deleted while upcoming (by the client, or by an accepted change request). "
        "Final: it is no longer among `Contract.milestones` and has no position (0), but "
        "history (events, notifications, change requests, `node`) still shows it.",
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
        "ACCEPTED": "The freelancer accepted (or let it expire): its money went back to the "
        "client.",
        "DECLINED": "The freelancer declined: nothing changed.",
        "DISPUTED": "The freelancer opened a dispute on it instead of answering; it stays so, "
        "and its dispute carries the outcome.",
    },
)
describe(
    DisputeStatus,
    "Where a dispute stands.",
    {
        "AWAITING_CLIENT": "Opened by the freelancer: waiting for the client's answer until "
        "`respondBy` (unanswered, the disputed amount goes to the freelancer).",
        "IN_MEDIATION": "The client rejected it: a mediator decides.",
        "RESOLVED": "Decided: `resolution` says how and where the money went.",
    },
)
describe(
    DisputeResolutionKind,
    "Who settled a dispute.",
    {
        "CLIENT_ACCEPTED": "The client accepted it: the disputed amount went to the freelancer.",
        "MEDIATOR_DECIDED": "A mediator split the disputed amount between the parties.",
        "AUTO_RESOLVED": "The client did not answer in time: the disputed amount went to the "
        "freelancer.",
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
        "CONTRACT_CREATED": "The client started the contract (contracts made before offers "
        "existed; new contracts start with CONTRACT_OFFERED).",
        "CONTRACT_OFFERED": "The client offered the contract to the freelancer party.",
        "CONTRACT_ACCEPTED": "The freelancer party accepted the offer: the contract is ACTIVE.",
        "CONTRACT_DECLINED": "The freelancer party declined the offer, or the client (the "
        "actor) withdrew it: the contract is DECLINED.",
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
        "DISPUTE_OPENED": "The freelancer opened a dispute on a refund request or on the active "
        "milestone's payment; its money is frozen.",
        "DISPUTE_ACCEPTED": "The client accepted the dispute: the disputed amount went to the "
        "freelancer.",
        "DISPUTE_ESCALATED": "The client rejected the dispute: it went to mediation (mediators "
        "are notified).",
        "DISPUTE_RESOLVED": "A mediator decided the dispute.",
        "DISPUTE_AUTO_RESOLVED": "The client did not answer the dispute in time: the disputed "
        "amount went to the freelancer (no actor).",
        "DEADLINE_REMINDER": "A deadline is near (`REMINDER_BEFORE` ahead): whoever must act is "
        "reminded once. A notification only, never a room event; no actor; the deadline is "
        "`Notification.deadline`.",
    },
)
describe(
    ErrorCode,
    "Why a mutation was refused (`UserError.code`). Checks run in this order and the first "
    "failing kind answers: NOT_FOUND, FORBIDDEN, IDEMPOTENCY_CONFLICT, VALIDATION, then the "
    "state of the contract.",
    {
        "FORBIDDEN": "A party acting outside its role (e.g. the freelancer adding a milestone), "
        "a mediator calling a party's mutation, or a party resolving a dispute.",
        "NOT_FOUND": "No such object, or the viewer is not a party to its contract (never a "
        "hint that it exists).",
        "VALIDATION": "A bad input value; `field` names it (one error per bad field).",
        "CONTRACT_ENDED": "The contract has ended, or its offer was declined or withdrawn: "
        "nothing about its work can change.",
        "CONTRACT_NOT_ACCEPTED": "The contract is still an offer: funding, submitting, change "
        "and refund requests wait for the freelancer party to accept it (and the freelancer "
        "answers an offer with acceptContract or declineContract, not endContract).",
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
        "NOT_PENDING": "The change or refund request, or the offer, was already answered or "
        "withdrawn, or the dispute is past the step the mutation answers.",
        "DISPUTE_OPEN": "A dispute is open on the contract: its money is frozen (approve, "
        "reject, submit, refunds, ending) until it is resolved; one open dispute at a time.",
        "NOT_DISPUTABLE": "Only a pending refund request, or the active milestone after a "
        "submission, can be disputed.",
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
        "MEDIATOR": "Not a party: a mediator watching a room whose dispute went to mediation "
        "(read-only); decides with `resolveDispute`.",
    },
    name="ContractRole",
)

describe(
    TeamRole,
    "A member's role in a team. On a contract whose side is the team, OWNERs and ADMINs act "
    "with the side's role; MEMBERs see the room and get its notifications.",
    {
        "OWNER": "Manages the team's members (a team keeps at least one) and acts on its "
        "contracts.",
        "ADMIN": "Manages the team's members and acts on its contracts.",
        "MEMBER": "Sees the team's contract rooms and gets their notifications; on the "
        "freelancer side may also submit work. Nothing else (FORBIDDEN).",
    },
)


@strawberry.enum(description="A field of a milestone that a change of a change request sets.")
class MilestoneField(Enum):
    TITLE = strawberry.enum_value("TITLE", description="`title`.")
    DESCRIPTION = strawberry.enum_value(
        "DESCRIPTION", description="`description` (null there: the description is cleared)."
    )
    DUE_DATE = strawberry.enum_value(
        "DUE_DATE", description="`dueDate` (null there: the due date is cleared)."
    )
    AMOUNT = strawberry.enum_value("AMOUNT", description="`amount`.")


@strawberry.enum(description="An answer to a change request or a refund request.")
class Decision(Enum):
    ACCEPT = strawberry.enum_value("ACCEPT", description="Accept: the request takes effect.")
    DECLINE = strawberry.enum_value("DECLINE", description="Decline: nothing changes.")


@strawberry.enum(description="The client's answer to a dispute.")
class DisputeDecision(Enum):
    ACCEPT = strawberry.enum_value(
        "ACCEPT", description="Give in: the disputed amount goes to the freelancer."
    )
    REJECT = strawberry.enum_value("REJECT", description="Send the dispute to a mediator.")


__all__ = [
    "ChangeKind",
    "ChangeRequestStatus",
    "ContractRole",
    "ContractStatus",
    "Decision",
    "DisputeDecision",
    "DisputeResolutionKind",
    "DisputeStatus",
    "ErrorCode",
    "EventKind",
    "MilestoneField",
    "MilestoneStatus",
    "RefundRequestStatus",
    "SubmissionOutcome",
    "TeamRole",
]
