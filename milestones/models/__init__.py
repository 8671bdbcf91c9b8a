"""Tortoise models, one module per aggregate."""

from milestones.models.change_request import ChangeRequest, MilestoneChange
from milestones.models.contract import Contract
from milestones.models.dispute import Dispute
from milestones.models.escrow import LedgerEntry
from milestones.models.events import ContractEvent, EmailOutbox, Notification
from milestones.models.idempotency import IdempotencyRecord
from milestones.models.milestone import Milestone
from milestones.models.refund_request import RefundRequest
from milestones.models.submission import Attachment, AttachmentChunk, Submission
from milestones.models.team import Team, TeamMember
from milestones.models.user import User
from milestones.models.webhook import WebhookDelivery, WebhookEndpoint

__all__ = [
    "Attachment",
    "AttachmentChunk",
    "ChangeRequest",
    "Contract",
    "ContractEvent",
    "Dispute",
    "EmailOutbox",
    "IdempotencyRecord",
    "LedgerEntry",
    "Milestone",
    "MilestoneChange",
    "Notification",
    "RefundRequest",
    "Submission",
    "Team",
    "TeamMember",
    "User",
    "WebhookDelivery",
    "WebhookEndpoint",
]
