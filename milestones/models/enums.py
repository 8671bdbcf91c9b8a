"""Statuses and kinds stored in the database (the GraphQL enums mirror them)."""

from __future__ import annotations

from enum import StrEnum


class ContractStatus(StrEnum):
    OFFERED = "OFFERED"
    ACTIVE = "ACTIVE"
    ENDED = "ENDED"
    DECLINED = "DECLINED"


# Final: nothing changes them any more (changes answer CONTRACT_ENDED).
CLOSED_STATUSES = (ContractStatus.ENDED, ContractStatus.DECLINED)


class TeamRole(StrEnum):
    OWNER = "OWNER"
    ADMIN = "ADMIN"
    MEMBER = "MEMBER"


class MilestoneStatus(StrEnum):
    UPCOMING = "UPCOMING"
    ACTIVE = "ACTIVE"
    SUBMITTED = "SUBMITTED"
    RELEASED = "RELEASED"
    REFUNDED = "REFUNDED"
    # Written with `deleted_at` when an upcoming milestone is deleted (its history stays).
    DELETED = "DELETED"


FUNDED_STATUSES = (MilestoneStatus.ACTIVE, MilestoneStatus.SUBMITTED)


class ChangeRequestStatus(StrEnum):
    PENDING = "PENDING"
    ACCEPTED = "ACCEPTED"
    DECLINED = "DECLINED"
    WITHDRAWN = "WITHDRAWN"


class RefundRequestStatus(StrEnum):
    PENDING = "PENDING"
    ACCEPTED = "ACCEPTED"
    DECLINED = "DECLINED"
    # The freelancer opened a dispute on it instead of answering: the dispute decides.
    DISPUTED = "DISPUTED"


class DisputeStatus(StrEnum):
    AWAITING_CLIENT = "AWAITING_CLIENT"
    IN_MEDIATION = "IN_MEDIATION"
    RESOLVED = "RESOLVED"


OPEN_DISPUTE_STATUSES = (DisputeStatus.AWAITING_CLIENT, DisputeStatus.IN_MEDIATION)


class DisputeResolutionKind(StrEnum):
    CLIENT_ACCEPTED = "CLIENT_ACCEPTED"
    MEDIATOR_DECIDED = "MEDIATOR_DECIDED"
    AUTO_RESOLVED = "AUTO_RESOLVED"


class ChangeKind(StrEnum):
    ADD = "ADD"
    EDIT = "EDIT"
    DELETE = "DELETE"


class LedgerKind(StrEnum):
    DEPOSIT = "DEPOSIT"
    ALLOCATE = "ALLOCATE"
    RELEASE = "RELEASE"
    REFUND = "REFUND"
    # Deposited and released at once: counts in funded and released, never held.
    BONUS = "BONUS"


class EventKind(StrEnum):
    CONTRACT_CREATED = "CONTRACT_CREATED"  # contracts made before offers existed
    CONTRACT_OFFERED = "CONTRACT_OFFERED"
    CONTRACT_ACCEPTED = "CONTRACT_ACCEPTED"
    CONTRACT_DECLINED = "CONTRACT_DECLINED"
    MILESTONE_ADDED = "MILESTONE_ADDED"
    MILESTONE_EDITED = "MILESTONE_EDITED"
    MILESTONE_DELETED = "MILESTONE_DELETED"
    MILESTONE_ACTIVATED = "MILESTONE_ACTIVATED"
    MILESTONE_SUBMITTED = "MILESTONE_SUBMITTED"
    SUBMISSION_REJECTED = "SUBMISSION_REJECTED"
    MILESTONE_APPROVED = "MILESTONE_APPROVED"
    REFUND_REQUESTED = "REFUND_REQUESTED"
    REFUND_ACCEPTED = "REFUND_ACCEPTED"
    REFUND_DECLINED = "REFUND_DECLINED"
    CHANGE_REQUEST_SUBMITTED = "CHANGE_REQUEST_SUBMITTED"
    CHANGE_REQUEST_ACCEPTED = "CHANGE_REQUEST_ACCEPTED"
    CHANGE_REQUEST_DECLINED = "CHANGE_REQUEST_DECLINED"
    CHANGE_REQUEST_WITHDRAWN = "CHANGE_REQUEST_WITHDRAWN"
    CONTRACT_ENDED = "CONTRACT_ENDED"
    BONUS_PAID = "BONUS_PAID"
    MILESTONE_AUTO_RELEASED = "MILESTONE_AUTO_RELEASED"
    REFUND_AUTO_ACCEPTED = "REFUND_AUTO_ACCEPTED"
    DISPUTE_OPENED = "DISPUTE_OPENED"
    DISPUTE_ACCEPTED = "DISPUTE_ACCEPTED"
    DISPUTE_ESCALATED = "DISPUTE_ESCALATED"
    DISPUTE_RESOLVED = "DISPUTE_RESOLVED"
    DISPUTE_AUTO_RESOLVED = "DISPUTE_AUTO_RESOLVED"
    # A notification only (no room event): a deadline is near for whoever must act.
    DEADLINE_REMINDER = "DEADLINE_REMINDER"


class SubmissionOutcome(StrEnum):
    PENDING = "PENDING"
    REJECTED = "REJECTED"
    APPROVED = "APPROVED"
    AUTO_RELEASED = "AUTO_RELEASED"
