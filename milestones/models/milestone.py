from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

from milestones.models.enums import MilestoneStatus

if TYPE_CHECKING:
    from milestones.models.contract import Contract


class Milestone(Model):
    id = fields.IntField(primary_key=True)
    contract: fields.ForeignKeyRelation[Contract] = fields.ForeignKeyField(
        "models.Contract", related_name="milestones", on_delete=fields.CASCADE
    )
    position = fields.IntField()
    title = fields.CharField(max_length=200)
    description = fields.TextField(null=True)
    due_date = fields.DateField(null=True)
    amount = fields.BigIntField()  # minor units
    status = fields.CharEnumField(MilestoneStatus, max_length=16, default=MilestoneStatus.UPCOMING)
    version = fields.IntField(default=1)
    activated_at = fields.DatetimeField(null=True)
    submitted_at = fields.DatetimeField(null=True)  # the latest submission
    # Set while SUBMITTED: the client's silence releases the money then (the scheduler acts).
    review_deadline = fields.DatetimeField(null=True)
    # When the client is reminded of the review deadline; cleared once reminded (or moot).
    review_remind_at = fields.DatetimeField(null=True)
    released_at = fields.DatetimeField(null=True)
    # Deleted milestones stay for the history (events and change requests point at them).
    deleted_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    contract_id: int

    class Meta:
        table = "milestones"
        indexes = (("contract_id", "position"), ("review_deadline",), ("review_remind_at",))
