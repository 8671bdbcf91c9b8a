"""Webhook endpoints and their deliveries, as their owner sees them (never the secret)."""

from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import Annotated

import strawberry
from strawberry import Private

from milestones import ids
from milestones.schema.context import Info
from milestones.schema.enums import EventKind
from milestones.schema.types import Connection, Contract, Node, Notification, load_contract


@strawberry.enum(description="Where a webhook delivery stands.")
class WebhookDeliveryStatus(Enum):
    PENDING = strawberry.enum_value("PENDING", description="Not delivered yet; will be tried.")
    DELIVERED = strawberry.enum_value("DELIVERED", description="The receiver answered 2xx.")
    FAILED = strawberry.enum_value(
        "FAILED", description="Parked: no 2xx within the retry window; not tried again."
    )


@strawberry.type(description="One notification sent (or being sent) to one webhook endpoint.")
class WebhookDelivery(Node):
    notification: Notification = strawberry.field(description="The notification it carries.")
    webhook_id: str = strawberry.field(
        description="The `webhook-id` header, the same on every attempt."
    )
    status: WebhookDeliveryStatus = strawberry.field(description="Where the delivery stands.")
    attempts: int = strawberry.field(description="Attempts made so far.")
    last_status_code: int | None = strawberry.field(
        description="The HTTP status of the last attempt; null if no answer came."
    )
    last_error: str | None = strawberry.field(
        description="Why the last attempt failed: a short excerpt of the answer or the error."
    )
    next_attempt_at: dt.datetime | None = strawberry.field(
        description="When it is tried next; null once delivered or parked."
    )
    delivered_at: dt.datetime | None = strawberry.field(
        description="When the receiver answered 2xx."
    )
    failed_at: dt.datetime | None = strawberry.field(description="When it was parked as failed.")
    created_at: dt.datetime = strawberry.field(description="When the notification was written.")

    @classmethod
    def of(cls, delivery: object, notification: Notification) -> WebhookDelivery:
        from milestones.models import WebhookDelivery as Model

        assert isinstance(delivery, Model)
        if delivery.delivered_at is not None:
            status = WebhookDeliveryStatus.DELIVERED
        elif delivery.failed_at is not None:
            status = WebhookDeliveryStatus.FAILED
        else:
            status = WebhookDeliveryStatus.PENDING
        return cls(
            id=strawberry.ID(ids.encode("WebhookDelivery", delivery.id)),
            notification=notification,
            webhook_id=delivery.message_id,
            status=status,
            attempts=delivery.attempts,
            last_status_code=delivery.last_status_code,
            last_error=delivery.last_error,
            next_attempt_at=(
                delivery.next_attempt_at if status is WebhookDeliveryStatus.PENDING else None
            ),
            delivered_at=delivery.delivered_at,
            failed_at=delivery.failed_at,
            created_at=delivery.created_at,
        )


@strawberry.type(
    description="Where the owner's notifications of the chosen kinds are POSTed, signed per "
    "the Standard Webhooks spec."
)
class WebhookEndpoint(Node):
    pk: Private[int]
    contract_pk: Private[int | None]
    url: str = strawberry.field(description="Where deliveries are POSTed.")
    kinds: list[EventKind] = strawberry.field(description="The notification kinds it receives.")
    created_at: dt.datetime = strawberry.field(description="When it was created.")
    updated_at: dt.datetime = strawberry.field(description="When it was last changed.")

    @strawberry.field(description="The one contract it is limited to; null: every contract.")
    async def contract(self, info: Info) -> Contract | None:
        if self.contract_pk is None:
            return None
        return await load_contract(info, self.contract_pk)

    @strawberry.field(description="Its deliveries, newest first.")
    async def deliveries(
        self,
        info: Info,
        first: Annotated[
            int | None, strawberry.argument(description="Page size, at most 100.")
        ] = 20,
        after: Annotated[
            str | None, strawberry.argument(description="The cursor to continue after.")
        ] = None,
    ) -> Connection[WebhookDelivery]:
        from milestones.resolvers.pagination import webhook_deliveries_page

        return await webhook_deliveries_page(self.pk, first, after)

    @classmethod
    def of(cls, endpoint: object) -> WebhookEndpoint:
        from milestones.domain.webhooks import endpoint_kinds
        from milestones.models import WebhookEndpoint as Model

        assert isinstance(endpoint, Model)
        return cls(
            id=strawberry.ID(ids.encode("WebhookEndpoint", endpoint.id)),
            pk=endpoint.id,
            contract_pk=endpoint.contract_id,
            url=endpoint.url,
            kinds=endpoint_kinds(endpoint),
            created_at=endpoint.created_at,
            updated_at=endpoint.updated_at,
        )
