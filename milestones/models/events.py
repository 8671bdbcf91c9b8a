from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.models import Model

from milestones.models.enums import EventKind

if TYPE_CHECKING:
    from milestones.models.change_request import ChangeRequest
    from milestones.models.contract import Contract
    from milestones.models.dispute import Dispute
    from milestones.models.milestone import Milestone
    from milestones.models.refund_request import RefundRequest
    from milestones.models.user import User


class ContractEvent(Model):
    # The contract room log: `seq` orders it and is the subscription cursor.

    id = fields.BigIntField(primary_key=True)
    contract: fields.ForeignKeyRelation[Contract] = fields.ForeignKeyField(
        "models.Contract", related_name="events", on_delete=fields.CASCADE
    )
    seq = fields.BigIntField()
    kind = fields.CharEnumField(EventKind, max_length=32)
    # None: an automatic action (a deadline acted), not a person's.
    actor: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="events", null=True, on_delete=fields.RESTRICT
    )
    milestone: fields.ForeignKeyNullableRelation[Milestone] = fields.ForeignKeyField(
        "models.Milestone", related_name="events", null=True, on_delete=fields.SET_NULL
    )
    change_request: fields.ForeignKeyNullableRelation[ChangeRequest] = fields.ForeignKeyField(
        "models.ChangeRequest", related_name="events", null=True, on_delete=fields.SET_NULL
    )
    refund_request: fields.ForeignKeyNullableRelation[RefundRequest] = fields.ForeignKeyField(
        "models.RefundRequest", related_name="events", null=True, on_delete=fields.SET_NULL
    )
    dispute: fields.ForeignKeyNullableRelation[Dispute] = fields.ForeignKeyField(
        "models.Dispute", related_name="events", null=True, on_delete=fields.SET_NULL
    )
    # What the actor wrote with the action (a mutation's `message`), if anything.
    note = fields.TextField(null=True)
    # The money the action moved (minor units): funded, released, refunded, paid as a bonus.
    amount = fields.BigIntField(null=True)
    occurred_at = fields.DatetimeField(auto_now_add=True)

    contract_id: int
    actor_id: int | None
    milestone_id: int | None
    change_request_id: int | None
    refund_request_id: int | None
    dispute_id: int | None

    class Meta:
        table = "contract_events"
        unique_together = (("contract_id", "seq"),)


class Notification(Model):
    # What the other party should know: `seq` is per recipient and is the cursor.
    # The milestone, change request and refund request it concerns are its event's; a
    # DEADLINE_REMINDER has no event and names what it concerns itself. Its event, contract
    # and actor have no foreign-key check on PostgreSQL: they are written by the statement
    # that writes the event, and its contract and actor are the event's (migration 0017).

    id = fields.BigIntField(primary_key=True)
    recipient: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="notifications", on_delete=fields.CASCADE
    )
    seq = fields.BigIntField()
    event: fields.ForeignKeyNullableRelation[ContractEvent] = fields.ForeignKeyField(
        "models.ContractEvent",
        related_name="notifications",
        null=True,
        on_delete=fields.CASCADE,
        db_constraint=False,
    )
    kind = fields.CharEnumField(EventKind, max_length=32)
    contract: fields.ForeignKeyRelation[Contract] = fields.ForeignKeyField(
        "models.Contract",
        related_name="notifications",
        on_delete=fields.CASCADE,
        db_constraint=False,
    )
    actor: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User",
        related_name="notifications_caused",
        null=True,
        on_delete=fields.RESTRICT,
        db_constraint=False,
    )
    message = fields.TextField()
    note = fields.TextField(null=True)
    amount = fields.BigIntField(null=True)  # its event's
    created_at = fields.DatetimeField(auto_now_add=True)
    read_at = fields.DatetimeField(null=True)
    # A DEADLINE_REMINDER: the deadline it names, and what it concerns (no event to say so).
    deadline = fields.DatetimeField(null=True)
    milestone: fields.ForeignKeyNullableRelation[Milestone] = fields.ForeignKeyField(
        "models.Milestone", related_name="reminders", null=True, on_delete=fields.SET_NULL
    )
    refund_request: fields.ForeignKeyNullableRelation[RefundRequest] = fields.ForeignKeyField(
        "models.RefundRequest", related_name="reminders", null=True, on_delete=fields.SET_NULL
    )
    dispute: fields.ForeignKeyNullableRelation[Dispute] = fields.ForeignKeyField(
        "models.Dispute", related_name="reminders", null=True, on_delete=fields.SET_NULL
    )

    recipient_id: int
    event_id: int | None
    contract_id: int
    actor_id: int | None
    milestone_id: int | None
    refund_request_id: int | None
    dispute_id: int | None

    class Meta:
        table = "notifications"
        unique_together = (("recipient_id", "seq"),)


class EmailOutbox(Model):
    # A notification email waiting to be sent, durable and retried until sent (or parked).

    id = fields.BigIntField(primary_key=True)
    notification: fields.ForeignKeyRelation[Notification] = fields.ForeignKeyField(
        "models.Notification", related_name="emails", on_delete=fields.CASCADE
    )
    to_address = fields.CharField(max_length=320)
    subject = fields.CharField(max_length=300)
    body = fields.TextField()
    # What the email tells (milestones/domain/email_items.py, as JSON): rendered when sent.
    # Null on rows written before it existed: those go out as `subject` and `body`.
    details: Any = fields.JSONField(null=True)
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField(db_index=True)
    sent_at = fields.DatetimeField(null=True)
    # When an instance last took it to send (the coalescing window of its address starts there).
    claimed_at = fields.DatetimeField(null=True)
    # Parked: it failed for a permanent reason EMAIL_MAX_ATTEMPTS times; never retried.
    failed_at = fields.DatetimeField(null=True)
    last_error = fields.TextField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    notification_id: int

    class Meta:
        table = "email_outbox"
