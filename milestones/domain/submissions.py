"""Submissions: each `submitMilestone` is kept with its message and files, and its outcome is
set by whatever answers it (a rejection, an approval, the review deadline).

Everything is written in the action's own transaction: a refused or failed submission leaves
no row and no byte behind. A file's bytes are copied from the temporary file they were
received into, one chunk at a time, so no more than `CHUNK_BYTES` of it is in memory here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import cast

from milestones.domain.access import may_see
from milestones.domain.bulk import Update, model_update, run_updates
from milestones.domain.commands import AttachmentFile
from milestones.models import Attachment, AttachmentChunk, Contract, Milestone, Submission, User
from milestones.models.enums import SubmissionOutcome

# Per row of `attachment_chunks`: small statements on both databases, few rows per file.
CHUNK_BYTES = 512 * 1024


async def record_submission(
    milestone: Milestone,
    submitted_by: User,
    message: str | None,
    attachments: tuple[AttachmentFile, ...],
    submitted_at: dt.datetime,
) -> Submission:
    submission = await Submission.create(
        contract_id=milestone.contract_id,
        milestone_id=milestone.id,
        submitted_by_id=submitted_by.id,
        message=message,
        submitted_at=submitted_at,
    )
    for position, file in enumerate(attachments):
        attachment = await Attachment.create(
            submission_id=submission.id,
            position=position,
            filename=file.filename,
            content_type=file.content_type,
            size=file.size,
            sha256=file.sha256,
        )
        await _store_bytes(attachment, file)
    return submission


async def _store_bytes(attachment: Attachment, file: AttachmentFile) -> None:
    content = file.content
    if content is None:
        if file.size == 0:
            return
        raise ValueError(f"the bytes of {file.filename!r} were never received")
    content.seek(0)
    seq = 0
    while chunk := content.read(CHUNK_BYTES):
        await AttachmentChunk.create(attachment_id=attachment.id, seq=seq, data=chunk)
        seq += 1


def submission_answer(
    milestone: Milestone,
    outcome: SubmissionOutcome,
    at: dt.datetime,
    message: str | None = None,
) -> Update:
    """The milestone's pending submission (if any: an ACTIVE milestone may be approved
    without one) gets its outcome: the UPDATE to send."""
    return model_update(
        Submission,
        {"outcome": outcome, "response_message": message, "responded_at": at},
        {"milestone_id": milestone.id, "outcome": SubmissionOutcome.PENDING},
    )


async def answer_submission(
    milestone: Milestone,
    outcome: SubmissionOutcome,
    at: dt.datetime,
    message: str | None = None,
) -> None:
    await run_updates([submission_answer(milestone, outcome, at, message)])


async def visible_attachment(viewer: User, pk: int | None) -> Attachment | None:
    """The attachment `pk` names, if the viewer may see its room (`access.may_see`: the
    parties, and whoever else that rule lets in); None for anything else."""
    if pk is None:
        return None
    attachment = await Attachment.get_or_none(id=pk)
    if attachment is None:
        return None
    submission = await Submission.get(id=attachment.submission_id)
    contract = await Contract.get(id=submission.contract_id)
    return attachment if await may_see(viewer, contract) else None


async def visible_submission(viewer: User, pk: int | None) -> Submission | None:
    if pk is None:
        return None
    submission = await Submission.get_or_none(id=pk)
    if submission is None:
        return None
    contract = await Contract.get(id=submission.contract_id)
    return submission if await may_see(viewer, contract) else None


async def attachment_chunks(attachment: Attachment) -> AsyncIterator[bytes]:
    """The attachment's bytes, one stored chunk per read (each its own short query)."""
    seq = 0
    while True:
        rows = await AttachmentChunk.filter(attachment_id=attachment.id, seq=seq).values_list(
            "data", flat=True
        )
        if not rows:
            return
        yield bytes(cast(bytes, rows[0]))
        seq += 1
