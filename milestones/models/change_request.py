from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

from milestones.models.enums import ChangeKind, ChangeRequestStatus

if TYPE_CHECKING:
    from milestones.models.contract import Contract
    from milestones.models.milestone import Milestone
    from milestones.models.user import User


class ChangeRequest(Model):
    id = fields.IntField(primary_key=True)
    contract: fields.ForeignKeyRelation[Contract] = fields.ForeignKeyField(
        "models.Contract", related_name="change_requests", on_delete=fields.CASCADE
    )
    requested_by: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="change_requests", on_delete=fields.RESTRICT
    )
    status = fields.CharEnumField(
        ChangeRequestStatus, max_length=16, default=ChangeRequestStatus.PENDING
    )
    message = fields.TextField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    responded_at = fields.DatetimeField(null=True)
    response_message: str | None = fields.TextField(null=True)

    contract_id: int
    requested_by_id: int

    class Meta:
        table = "change_requests"
        indexes = (("contract_id", "id"),)


class MilestoneChange(Model):
    id = fields.IntField(primary_key=True)
    change_request: fields.ForeignKeyRelation[ChangeRequest] = fields.ForeignKeyField(
        "models.ChangeRequest", related_name="changes", on_delete=fields.CASCADE
    )
    index = fields.IntField()
    kind = fields.CharEnumField(ChangeKind, max_length=8)
    milestone: fields.ForeignKeyNullableRelation[Milestone] = fields.ForeignKeyField(
        "models.Milestone", related_name="changes", null=True, on_delete=fields.SET_NULL
    )
    title = fields.CharField(max_length=200, null=True)
    description = fields.TextField(null=True)
    due_date = fields.DateField(null=True)
    amount = fields.BigIntField(null=True)
    # Which of description/due_date an EDIT sets explicitly (null there means "clear it").
    sets_description = fields.BooleanField(default=False)
    sets_due_date = fields.BooleanField(default=False)

    change_request_id: int
    milestone_id: int | None

    class Meta:
        table = "milestone_changes"
        ordering = ("change_request_id", "index")
