from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

from milestones.models.enums import ContractStatus

if TYPE_CHECKING:
    from milestones.models.team import Team
    from milestones.models.user import User


# A contract between a client and a freelancer party; an offer (OFFERED) until accepted.
# `freelancer` is the person on the freelancer side: named by the client, or, for an offer made
# by email (`invited_email`, normalised), the first user whose token's email matched (null
# until then); the API shows them as `Contract.freelancer` once they accepted such an offer.
class Contract(Model):
    id = fields.IntField(primary_key=True)
    title = fields.CharField(max_length=200)
    currency = fields.CharField(max_length=3, default="USD")
    status = fields.CharEnumField(ContractStatus, max_length=16, default=ContractStatus.ACTIVE)
    client: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="contracts_as_client", on_delete=fields.RESTRICT
    )
    freelancer: fields.ForeignKeyRelation[User] | None = fields.ForeignKeyField(
        "models.User",
        related_name="contracts_as_freelancer",
        on_delete=fields.RESTRICT,
        null=True,
    )
    # The normalised email an offer was sent to (milestones.domain.emails.email_key).
    invited_email = fields.CharField(max_length=320, null=True)
    # A team party: its OWNERs and ADMINs act with the side's role, its MEMBERs see the room
    # (`client` and `freelancer` stay the people who made and accepted the offer).
    client_team: fields.ForeignKeyNullableRelation[Team] = fields.ForeignKeyField(
        "models.Team", related_name="contracts_as_client", null=True, on_delete=fields.RESTRICT
    )
    freelancer_team: fields.ForeignKeyNullableRelation[Team] = fields.ForeignKeyField(
        "models.Team",
        related_name="contracts_as_freelancer",
        null=True,
        on_delete=fields.RESTRICT,
    )
    # Last event sequence number of this contract's log: event cursors, and the room's version.
    event_seq = fields.BigIntField(default=0)
    # The ledger's running sums by kind, in minor units (ALLOCATE, between the contract and its
    # milestones, is not among them), changed in the statement that appends the entries
    # (`escrow.append_entries`): an action reads its contract's totals with the locked row
    # instead of summing a ledger that grows with the contract's history.
    # `milestones check-invariants` checks them against the ledger.
    ledger_deposited = fields.BigIntField(default=0, db_default=0)
    ledger_released = fields.BigIntField(default=0, db_default=0)
    ledger_refunded = fields.BigIntField(default=0, db_default=0)
    ledger_bonus = fields.BigIntField(default=0, db_default=0)
    created_at = fields.DatetimeField(auto_now_add=True)
    accepted_at = fields.DatetimeField(null=True)
    ended_at = fields.DatetimeField(null=True)
    # When a dispute of this contract first went to mediation: from then on every mediator
    # sees the room (read-only). Set once, never cleared.
    mediated_at = fields.DatetimeField(null=True)

    client_id: int
    freelancer_id: int | None
    client_team_id: int | None
    freelancer_team_id: int | None

    class Meta:
        table = "contracts"
        indexes = (
            ("client_id", "id"),
            ("freelancer_id", "id"),
            ("invited_email",),
            ("client_team_id", "id"),
            ("freelancer_team_id", "id"),
        )
