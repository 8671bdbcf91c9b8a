from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from milestones.models.user import User


class IdempotencyRecord(Model):
    # The first successful result of a keyed mutation, replayed for repeats.

    id = fields.BigIntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="idempotency_records", on_delete=fields.CASCADE
    )
    operation = fields.CharField(max_length=64)
    key = fields.CharField(max_length=255)
    request_hash = fields.CharField(max_length=64)
    result: Any = fields.JSONField()
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)

    user_id: int

    class Meta:
        table = "idempotency_records"
        unique_together = (("user_id", "operation", "key"),)
