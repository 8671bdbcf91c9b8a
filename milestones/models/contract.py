from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

from milestones.models.enums import ContractStatus

if TYPE_CHECKING:
    from milestones.models.user import User


class Contract(Model):
    id = fields.IntField(primary_key=True)
    title = fields.CharField(max_length=200)
    currency = fields.CharField(max_length=3, default="USD")
    status = fields.CharEnumField(ContractStatus, max_length=16, default=ContractStatus.ACTIVE)
    client: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="contracts_as_client", on_delete=fields.RESTRICT
    )
    freelancer: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="contracts_as_freelancer", on_delete=fields.RESTRICT
    )
    # Last event sequence number of this contract's log: event cursors, and the room's version.
    event_seq = fields.BigIntField(default=0)
    created_at = fields.DatetimeField(auto_now_add=True)
    ended_at = fields.DatetimeField(null=True)
    # When a dispute of this contract first went to mediation: from then on every mediator
    # sees the room (read-only). Set once, never cleared.
    mediated_at = fields.DatetimeField(null=True)

    client_id: int
    freelancer_id: int

    class Meta:
        table = "contracts"
        indexes = (("client_id", "id"), ("freelancer_id", "id"))
