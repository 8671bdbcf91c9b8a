from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from milestones.models.contract import Contract
    from milestones.models.events import Notification
    from milestones.models.user import User


class WebhookEndpoint(Model):
    # Where a user's notifications of some kinds (of one contract, or all) are POSTed.

    id = fields.IntField(primary_key=True)
    owner: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="webhook_endpoints", on_delete=fields.CASCADE
    )
    url = fields.CharField(max_length=2048)
    # EventKind names, comma separated: a handful of words, read with the endpoint.
    kinds = fields.TextField()
    contract: fields.ForeignKeyNullableRelation[Contract] = fields.ForeignKeyField(
        "models.Contract", related_name="webhook_endpoints", null=True, on_delete=fields.CASCADE
    )
    # The Standard Webhooks signing secret (`whsec_…`): shown once, kept to sign.
    secret = fields.CharField(max_length=100)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    owner_id: int
    contract_id: int | None

    class Meta:
        table = "webhook_endpoints"
        # Every notification asks whether its recipient has endpoints.
        indexes = (("owner_id",),)


class WebhookDelivery(Model):
    # One notification for one endpoint: the durable outbox row, retried until delivered or
    # parked. `seq` is the notification's cursor position: the order per endpoint.

    id = fields.BigIntField(primary_key=True)
    endpoint: fields.ForeignKeyRelation[WebhookEndpoint] = fields.ForeignKeyField(
        "models.WebhookEndpoint", related_name="deliveries", on_delete=fields.CASCADE
    )
    notification: fields.ForeignKeyRelation[Notification] = fields.ForeignKeyField(
        "models.Notification", related_name="webhook_deliveries", on_delete=fields.CASCADE
    )
    seq = fields.BigIntField()
    # The `webhook-id` header: the same on every attempt, so a receiver can drop a repeat.
    message_id = fields.CharField(max_length=64, unique=True)
    # The exact JSON body, fixed when the notification is written: every attempt signs it.
    payload = fields.TextField()
    attempts = fields.IntField(default=0)
    last_status_code = fields.IntField(null=True)
    # A short excerpt of the last failure (response body or error), never the whole body.
    last_error = fields.CharField(max_length=300, null=True)
    next_attempt_at = fields.DatetimeField()
    delivered_at = fields.DatetimeField(null=True)
    # Parked: gave up after the retry window.
    failed_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    endpoint_id: int
    notification_id: int

    class Meta:
        table = "webhook_deliveries"
        unique_together = (("endpoint_id", "notification_id"),)
        indexes = (("endpoint_id", "seq"), ("delivered_at", "failed_at", "next_attempt_at"))
