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
from dataclasses import dataclass

import orjson

from milestones import ids
from milestones.domain.access import may_see
from milestones.domain.commands import (
    CreateWebhookEndpoint,
    DeleteWebhookEndpoint,
    Every,
    UpdateWebhookEndpoint,
)
from milestones.domain.errors import DomainError, ErrorCode, Problem, not_found, refuse
from milestones.domain.idempotency import idempotent, kept_result
from milestones.domain.snapshots import freeze_row, thaw_row
from milestones.domain.transaction import Action, action
from milestones.domain.values import Omitted, cents_to_decimal
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


async def _scope(viewer: User, contract_id: int | Every | None) -> int | None:
    """The contract an endpoint is limited to (None: every contract); NOT_FOUND unless the
    viewer is a party to it."""
    if isinstance(contract_id, Every):
        return None
    contract = await Contract.get_or_none(id=contract_id) if contract_id is not None else None
    if contract is None or not await may_see(viewer, contract):
        raise not_found("Contract", "contract_id")
    return contract.id


async def _own_endpoint(viewer: User, pk: int | None) -> WebhookEndpoint | None:
    if pk is None:
        return None
    return await WebhookEndpoint.get_or_none(id=pk, owner_id=viewer.id)


def _endpoint_not_found() -> DomainError:
    return not_found("Webhook endpoint", "id")


async def _url_problems(
    command: CreateWebhookEndpoint | UpdateWebhookEndpoint, production: bool
) -> list[Problem]:
    """Where the URL's host resolves (its shape was checked at the edge). Asked before the
    action's transaction, so that a slow DNS answer holds no lock; raised at VALIDATION."""
    if isinstance(command.url, Omitted) or any(p.field == "url" for p in command.problems):
        return []
    try:
        await check_destination(command.url, production=production)
    except AddressRefused as refused:
        return [Problem(ErrorCode.VALIDATION, str(refused), "url")]
    return []


def _stored_kinds(kinds: tuple[EventKind, ...]) -> str:
    return ",".join(kind.value for kind in kinds)


def _refuse_any(*problems: Problem) -> None:
    """The VALIDATION step: every problem at once."""
    if problems:
        raise DomainError(*problems)


async def create_webhook_endpoint(
    viewer: User, command: CreateWebhookEndpoint, *, production: bool
) -> CreatedEndpoint:
    """A new endpoint and its secret; a replay answers the same endpoint and secret."""
    url_problems = await _url_problems(command, production)
    async with action():
        contract_pk = await _scope(viewer, command.contract_id)
        async with idempotent(viewer, command, contract_locked=False) as keyed:
            if keyed.replayed is not None:
                return CreatedEndpoint(
                    thaw_row(WebhookEndpoint, keyed.replayed["endpoint"]),
                    keyed.replayed["secret"],
                )
            _refuse_any(*command.problems, *url_problems)
            # The owner's row lock makes "at most N endpoints" hold under concurrent creates.
            await User.select_for_update().get(id=viewer.id)
            if await WebhookEndpoint.filter(owner_id=viewer.id).count() >= MAX_ENDPOINTS_PER_USER:
                raise refuse(
                    ErrorCode.VALIDATION,
                    f"At most {MAX_ENDPOINTS_PER_USER} webhook endpoints per user; "
                    "delete one first.",
                )
            secret = new_secret()
            endpoint = await WebhookEndpoint.create(
                owner_id=viewer.id,
                url=command.url,
                kinds=_stored_kinds(command.kinds),
                contract_id=contract_pk,
                secret=secret,
            )
            if keyed.wanted:
                # The secret too: a retry must not lose its only copy (the record is as
                # sensitive as the endpoint table).
                keyed.keep({"endpoint": freeze_row(endpoint), "secret": secret})
    return CreatedEndpoint(endpoint=endpoint, secret=secret)


async def update_webhook_endpoint(
    viewer: User, command: UpdateWebhookEndpoint, *, production: bool
) -> WebhookEndpoint:
    """Omitted fields stay; `contract_id=EVERY_CONTRACT` widens the endpoint to every one."""
    url_problems = await _url_problems(command, production)
    async with action():
        endpoint = await _own_endpoint(viewer, command.id)
        if endpoint is None:
            raise _endpoint_not_found()
        changes: dict[str, object] = {}
        if not isinstance(command.contract_id, Omitted):
            changes["contract_id"] = await _scope(viewer, command.contract_id)
        async with idempotent(viewer, command, contract_locked=False) as keyed:
            if keyed.replayed is not None:
                return thaw_row(WebhookEndpoint, keyed.replayed["endpoint"])
            _refuse_any(*command.problems, *url_problems)
            if not isinstance(command.url, Omitted):
                changes["url"] = command.url
            if not isinstance(command.kinds, Omitted):
                changes["kinds"] = _stored_kinds(command.kinds)
            if changes:
                changed = await WebhookEndpoint.filter(id=endpoint.id).update(
                    **changes, updated_at=dt.datetime.now(dt.UTC)
                )
                if not changed:  # deleted since it was read
                    raise _endpoint_not_found()
                await endpoint.refresh_from_db()
            if keyed.wanted:
                frozen = freeze_row(endpoint)
                del frozen["secret"]  # the payload never shows it: not kept twice
                keyed.keep({"endpoint": frozen})
    return endpoint


async def delete_webhook_endpoint(viewer: User, command: DeleteWebhookEndpoint) -> int:
    """The deleted endpoint's pk; its pending deliveries go with it. A replay answers the
    same pk, though the endpoint is gone by then."""
    async with action():
        endpoint = await _own_endpoint(viewer, command.id)
        if endpoint is None:
            replayed = await kept_result(viewer, command)
            if replayed is None:
                raise _endpoint_not_found()
            pk: int = replayed["id"]
            return pk
        async with idempotent(viewer, command, contract_locked=False) as keyed:
            if keyed.replayed is not None:  # a concurrent repeat committed first
                pk = keyed.replayed["id"]
                return pk
            _refuse_any(*command.problems)
            if not await WebhookEndpoint.filter(id=endpoint.id).delete():
                raise _endpoint_not_found()  # deleted since it was read
            if keyed.wanted:
                keyed.keep({"id": endpoint.id})
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
