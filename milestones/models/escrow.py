from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

from milestones.models.enums import LedgerKind

if TYPE_CHECKING:
    from milestones.models.contract import Contract
    from milestones.models.milestone import Milestone


class LedgerEntry(Model):
    # One money movement, append-only: every escrow figure is a sum over these.

    id = fields.BigIntField(primary_key=True)
    contract: fields.ForeignKeyRelation[Contract] = fields.ForeignKeyField(
        "models.Contract", related_name="ledger", on_delete=fields.RESTRICT
    )
    milestone: fields.ForeignKeyNullableRelation[Milestone] = fields.ForeignKeyField(
        "models.Milestone", related_name="ledger", null=True, on_delete=fields.RESTRICT
    )
    kind = fields.CharEnumField(LedgerKind, max_length=16)
    amount = fields.BigIntField()  # minor units, always > 0
    created_at = fields.DatetimeField(auto_now_add=True)

    contract_id: int
    milestone_id: int | None

    class Meta:
        table = "ledger_entries"
        indexes = (("contract_id", "milestone_id"),)
