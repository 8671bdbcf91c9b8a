"""Webhook endpoints (one user's, with the kinds and contract they want) and the outbox rows
written with each notification.

A delivery row is written in the same transaction as its notification, so a webhook exists
exactly when the notification does; the sender (`milestones/webhooks/sender.py`) sends it
after commit. Its JSON body is fixed here, once: every attempt signs the same bytes.
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

import orjson

from milestones import ids
from milestones.domain.access import role_of
from milestones.domain.errors import ErrorCode, Validation, not_found, refuse
from milestones.domain.transaction import Action, action
from milestones.domain.values import OMITTED, cents_to_decimal
from milestones.models import Contract, Notification, User, WebhookDelivery, WebhookEndpoint
from milestones.models.enums import EventKind
from milestones.webhooks.addresses import AddressRefused, check_destination

MAX_ENDPOINTS_PER_USER = 10
WEBHOOK_CHANNEL = "webhook"
SECRET_PREFIX = "whsec_"


@dataclass(frozen=True, slots=True)
class CreatedEndpoint:
    endpoint: WebhookEndpoint
    secret: str


def new_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def endpoint_kinds(endpoint: WebhookEndpoint) -> list[EventKind]:
    return [EventKind(kind) for kind in endpoint.kinds.split(",") if kind]


async def _party_contract(viewer: User, raw_id: object, field: str) -> Contract:
    contract_pk = ids.decode(raw_id, "Contract")
    contract = await Contract.get_or_none(id=contract_pk) if contract_pk is not None else None
    if contract is None or role_of(viewer, contract) is None:
        raise not_found("Contract", field)
    return contract


async def _own_endpoint(viewer: User, raw_id: object) -> WebhookEndpoint:
    pk = ids.decode(raw_id, "WebhookEndpoint")
    endpoint = (
        await WebhookEndpoint.get_or_none(id=pk, owner_id=viewer.id) if pk is not None else None
    )
    if endpoint is None:
        raise not_found("Webhook endpoint", "id")
    return endpoint


def _check_kinds(kinds: Sequence[EventKind], errors: Validation) -> str:
    if not kinds:
        errors.add("kinds", "Choose at least one kind of notification.")
    return ",".join(sorted({EventKind(kind).value for kind in kinds}))


async def _check_url(url: str, production: bool, errors: Validation) -> str:
    url = url.strip()
    try:
        await check_destination(url, production=production)
    except AddressRefused as refused:
        errors.add("url", str(refused))
    return url


async def create_webhook_endpoint(
    viewer: User,
    url: str,
    kinds: Sequence[EventKind],
    contract_id: object | None,
    *,
    production: bool,
) -> CreatedEndpoint:
    contract = (
        await _party_contract(viewer, contract_id, "contractId")
        if contract_id is not None
        else None
    )
    errors = Validation()
    checked_url = await _check_url(url, production, errors)
    stored_kinds = _check_kinds(kinds, errors)
    errors.raise_if_any()
    async with action():
        # The owner's row lock makes "at most N endpoints" hold under concurrent creates.
        await User.select_for_update().get(id=viewer.id)
        if await WebhookEndpoint.filter(owner_id=viewer.id).count() >= MAX_ENDPOINTS_PER_USER:
            raise refuse(
                ErrorCode.VALIDATION,
                f"At most {MAX_ENDPOINTS_PER_USER} webhook endpoints per user; delete one first.",
            )
        secret = new_secret()
        endpoint = await WebhookEndpoint.create(
            owner_id=viewer.id,
            url=checked_url,
            kinds=stored_kinds,
            contract_id=contract.id if contract is not None else None,
            secret=secret,
        )
    return CreatedEndpoint(endpoint=endpoint, secret=secret)


async def update_webhook_endpoint(
    viewer: User,
    endpoint_id: object,
    *,
    url: object = OMITTED,
    kinds: object = OMITTED,
    contract_id: object = OMITTED,
    production: bool,
) -> WebhookEndpoint:
    """Omitted fields stay; `contract_id=None` widens the endpoint to every contract."""
    endpoint = await _own_endpoint(viewer, endpoint_id)
    changes: dict[str, object] = {}
    if contract_id is not OMITTED:
        changes["contract_id"] = (
            (await _party_contract(viewer, contract_id, "contractId")).id
            if contract_id is not None
            else None
        )
    errors = Validation()
    if url is not OMITTED:
        if not isinstance(url, str):
            errors.add("url", "The URL may not be null.")
        else:
            changes["url"] = await _check_url(url, production, errors)
    if kinds is not OMITTED:
        if not isinstance(kinds, list):
            errors.add("kinds", "Choose at least one kind of notification.")
        else:
            changes["kinds"] = _check_kinds(kinds, errors)
    errors.raise_if_any()
    if changes:
        async with action():
            await WebhookEndpoint.filter(id=endpoint.id).update(
                **changes, updated_at=dt.datetime.now(dt.UTC)
            )
        await endpoint.refresh_from_db()
    return endpoint


async def delete_webhook_endpoint(viewer: User, endpoint_id: object) -> int:
    """The deleted endpoint's pk; its pending deliveries go with it."""
    endpoint = await _own_endpoint(viewer, endpoint_id)
    async with action():
        await WebhookEndpoint.filter(id=endpoint.id).delete()
    return endpoint.id


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def notification_body(
    notification: Notification, milestone_id: int | None, amount: int | None
) -> bytes:
    """The JSON body, Standard Webhooks' `{type, timestamp, data}` shape."""
    kind = EventKind(notification.kind)
    return orjson.dumps(
        {
            "type": kind.value,
            "timestamp": _iso(notification.created_at),
            "data": {
                "notification": {
                    "id": ids.encode("Notification", notification.id),
                    "cursor": ids.encode_cursor("notification", notification.seq),
                    "kind": kind.value,
                    "message": notification.message,
                    "note": notification.note,
                    "amount": f"{cents_to_decimal(amount)}" if amount is not None else None,
                    "createdAt": _iso(notification.created_at),
                    "contractId": ids.encode("Contract", notification.contract_id),
                    "milestoneId": (
                        ids.encode("Milestone", milestone_id) if milestone_id is not None else None
                    ),
                }
            },
        }
    )


async def enqueue_deliveries(
    current: Action,
    notification: Notification,
    milestone_id: int | None,
    amount: int | None,
) -> None:
    """In the notification's transaction: one delivery per endpoint of the recipient that
    wants this kind (and this contract)."""
    endpoints = await WebhookEndpoint.filter(owner_id=notification.recipient_id).only(
        "id", "kinds", "contract_id"
    )
    chosen = [
        endpoint
        for endpoint in endpoints
        if notification.kind in endpoint.kinds.split(",")
        and endpoint.contract_id in (None, notification.contract_id)
    ]
    if not chosen:
        return
    body = notification_body(notification, milestone_id, amount).decode()
    now = dt.datetime.now(dt.UTC)
    await WebhookDelivery.bulk_create(
        [
            WebhookDelivery(
                endpoint_id=endpoint.id,
                notification_id=notification.id,
                seq=notification.seq,
                message_id=f"msg_{secrets.token_urlsafe(18)}",
                payload=body,
                next_attempt_at=now,
            )
            for endpoint in chosen
        ]
    )
    current.wake(WEBHOOK_CHANNEL, notification.seq)  # the sender sends them after commit


async def prune_webhook_deliveries(older_than: dt.timedelta) -> int:
    """Delete deliveries delivered or parked longer ago than `older_than`; how many.

    Pending ones are never pruned: they are the outbox."""
    cutoff = dt.datetime.now(dt.UTC) - older_than
    delivered = await WebhookDelivery.filter(delivered_at__lt=cutoff).delete()
    parked = await WebhookDelivery.filter(failed_at__lt=cutoff).delete()
    return int(delivered) + int(parked)
