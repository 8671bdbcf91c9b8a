from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

from milestones.models.enums import DisputeResolutionKind, DisputeStatus

if TYPE_CHECKING:
    from milestones.models.contract import Contract
    from milestones.models.milestone import Milestone
    from milestones.models.refund_request import RefundRequest
    from milestones.models.user import User


class Dispute(Model):
    """The freelancer contests a refund request or a withheld payment: its money is frozen
    until the client gives in, a mediator decides, or the client's silence releases it."""

    id = fields.IntField(primary_key=True)
    contract: fields.ForeignKeyRelation[Contract] = fields.ForeignKeyField(
        "models.Contract", related_name="disputes", on_delete=fields.CASCADE
    )
    milestone: fields.ForeignKeyNullableRelation[Milestone] = fields.ForeignKeyField(
        "models.Milestone", related_name="disputes", null=True, on_delete=fields.CASCADE
    )
    refund_request: fields.ForeignKeyNullableRelation[RefundRequest] = fields.ForeignKeyField(
        "models.RefundRequest", related_name="disputes", null=True, on_delete=fields.CASCADE
    )
    opened_by: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="disputes_opened", on_delete=fields.RESTRICT
    )
    message: str | None = fields.TextField(null=True)
    amount = fields.BigIntField()  # minor units, held in escrow while the dispute is open
    status = fields.CharEnumField(
        DisputeStatus, max_length=16, default=DisputeStatus.AWAITING_CLIENT
    )
    opened_at = fields.DatetimeField()
    # Set while AWAITING_CLIENT: unanswered by then, the amount goes to the freelancer.
    respond_by = fields.DatetimeField(null=True)
    # When the client is reminded of `respond_by`; cleared once reminded (or answered).
    remind_at = fields.DatetimeField(null=True)
    # What the client wrote when sending it to mediation.
    response_message: str | None = fields.TextField(null=True)
    escalated_at = fields.DatetimeField(null=True)
    resolved_at = fields.DatetimeField(null=True)
    resolution_kind = fields.CharEnumField(DisputeResolutionKind, max_length=24, null=True)
    released_amount = fields.BigIntField(null=True)
    refunded_amount = fields.BigIntField(null=True)
    decided_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="disputes_decided", null=True, on_delete=fields.RESTRICT
    )
    resolution_message: str | None = fields.TextField(null=True)

    contract_id: int
    milestone_id: int | None
    refund_request_id: int | None
    opened_by_id: int
    decided_by_id: int | None

    class Meta:
        table = "disputes"
        indexes = (("contract_id", "id"), ("respond_by",), ("remind_at",), ("status", "id"))
