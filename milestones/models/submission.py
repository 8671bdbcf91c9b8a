"""Submitted work: each `submitMilestone` is a Submission with its message and files.

A file's bytes live in the database (`AttachmentChunk`, in order), so every instance serves
every file and a submission is stored, files included, in the action's one transaction.
Chunks keep each statement's parameter small and let a download stream without holding the
whole file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

from milestones.models.enums import SubmissionOutcome

if TYPE_CHECKING:
    from milestones.models.contract import Contract
    from milestones.models.milestone import Milestone
    from milestones.models.user import User


class Submission(Model):
    id = fields.IntField(primary_key=True)
    contract: fields.ForeignKeyRelation[Contract] = fields.ForeignKeyField(
        "models.Contract", related_name="submissions", on_delete=fields.CASCADE
    )
    milestone: fields.ForeignKeyRelation[Milestone] = fields.ForeignKeyField(
        "models.Milestone", related_name="submissions", on_delete=fields.CASCADE
    )
    submitted_by: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="submissions", on_delete=fields.RESTRICT
    )
    message = fields.TextField(null=True)
    outcome = fields.CharEnumField(
        SubmissionOutcome, max_length=16, default=SubmissionOutcome.PENDING
    )
    response_message = fields.TextField(null=True)
    submitted_at = fields.DatetimeField()
    responded_at = fields.DatetimeField(null=True)

    contract_id: int
    milestone_id: int
    submitted_by_id: int

    class Meta:
        table = "submissions"
        indexes = (("milestone_id", "id"),)


class Attachment(Model):
    id = fields.IntField(primary_key=True)
    submission: fields.ForeignKeyRelation[Submission] = fields.ForeignKeyField(
        "models.Submission", related_name="attachments", on_delete=fields.CASCADE
    )
    position = fields.IntField()  # its place in the submission's `attachments`, from 0
    filename = fields.CharField(max_length=255)
    content_type = fields.CharField(max_length=255)
    size = fields.BigIntField()
    sha256 = fields.CharField(max_length=64)  # lowercase hex
    created_at = fields.DatetimeField(auto_now_add=True)

    submission_id: int

    class Meta:
        table = "attachments"
        indexes = (("submission_id", "position"),)


# The bytes of an attachment, `seq` 0, 1, ... in order, each at most
# `domain.submissions.CHUNK_BYTES`.
class AttachmentChunk(Model):
    id = fields.BigIntField(primary_key=True)
    attachment: fields.ForeignKeyRelation[Attachment] = fields.ForeignKeyField(
        "models.Attachment", related_name="chunks", on_delete=fields.CASCADE
    )
    seq = fields.IntField()
    data = fields.BinaryField()

    attachment_id: int

    class Meta:
        table = "attachment_chunks"
        unique_together = (("attachment_id", "seq"),)
