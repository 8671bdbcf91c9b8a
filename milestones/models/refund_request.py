from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

from milestones.models.enums import RefundRequestStatus

if TYPE_CHECKING:
    from milestones.models.contract import Contract
    from milestones.models.milestone import Milestone
    from milestones.models.user import User


class RefundRequest(Model):
    id = fields.IntField(primary_key=True)
    contract: fields.ForeignKeyRelation[Contract] = fields.ForeignKeyField(
        "models.Contract", related_name="refund_requests", on_delete=fields.CASCADE
    )
    # Null: the escrow refund of an ended contract when only `available` money was left.
    milestone: fields.ForeignKeyNullableRelation[Milestone] = fields.ForeignKeyField(
        "models.Milestone", related_name="refund_requests", null=True, on_delete=fields.CASCADE
    )
    requested_by: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="refund_requests", on_delete=fields.RESTRICT
    )
    status = fields.CharEnumField(
        RefundRequestStatus, max_length=16, default=RefundRequestStatus.PENDING
    )
    amount = fields.BigIntField()
    message = fields.TextField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    # Set while PENDING: unanswered by then, the refund is accepted (the scheduler acts).
    respond_by = fields.DatetimeField(null=True)
    # When the freelancer is reminded; cleared once reminded (or answered).
    remind_at = fields.DatetimeField(null=True)
    responded_at = fields.DatetimeField(null=True)
    response_message: str | None = fields.TextField(null=True)

    contract_id: int
    milestone_id: int | None
    requested_by_id: int

    class Meta:
        table = "refund_requests"
        indexes = (("contract_id", "id"), ("respond_by",), ("remind_at",))
