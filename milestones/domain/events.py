"""The contract's event log and the other party's notification, written with the change."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Awaitable, Callable

from tortoise import connections

from milestones.domain.access import other_party_id
from milestones.domain.email_items import EmailItem, email_item, wants_email
from milestones.domain.transaction import Action
from milestones.domain.values import cents_to_decimal
from milestones.domain.webhooks import enqueue_deliveries
from milestones.models import (
    ChangeRequest,
    Contract,
    ContractEvent,
    EmailOutbox,
    Milestone,
    Notification,
    RefundRequest,
    User,
)
from milestones.models.enums import EventKind

_email_enabled = False


def set_email_enabled(enabled: bool) -> None:
    """With SMTP configured, each notification also gets an outbox row (sent after commit)."""
    global _email_enabled
    _email_enabled = enabled


_SENTENCES: dict[EventKind, str] = {
    EventKind.CONTRACT_CREATED: "{actor} started the contract “{contract}” with you",
    EventKind.MILESTONE_ADDED: "{actor} added the milestone “{milestone}” to “{contract}”",
    EventKind.MILESTONE_EDITED: "{actor} edited the milestone “{milestone}” of “{contract}”",
    EventKind.MILESTONE_DELETED: "{actor} deleted the milestone “{milestone}” of “{contract}”",
    EventKind.MILESTONE_ACTIVATED: "{actor} funded the milestone “{milestone}” of “{contract}” "
    "with {amount}",
    EventKind.MILESTONE_SUBMITTED: "{actor} submitted work on “{milestone}” of “{contract}”",
    EventKind.SUBMISSION_REJECTED: "{actor} rejected the submission on “{milestone}” of "
    "“{contract}”",
    EventKind.MILESTONE_APPROVED: "{actor} approved “{milestone}” of “{contract}” and released "
    "{amount}",
    EventKind.REFUND_REQUESTED: "{actor} asked for a refund of {amount} on “{milestone}” of "
    "“{contract}”",
    EventKind.REFUND_ACCEPTED: "{actor} accepted the refund of {amount} on “{milestone}” of "
    "“{contract}”",
    EventKind.REFUND_DECLINED: "{actor} declined the refund of “{milestone}” of “{contract}”",
    EventKind.CHANGE_REQUEST_SUBMITTED: "{actor} requested changes to the milestones of "
    "“{contract}”",
    EventKind.CHANGE_REQUEST_ACCEPTED: "{actor} accepted your change request on “{contract}”",
    EventKind.CHANGE_REQUEST_DECLINED: "{actor} declined your change request on “{contract}”",
    EventKind.CHANGE_REQUEST_WITHDRAWN: "{actor} withdrew the change request on “{contract}”",
    EventKind.CONTRACT_ENDED: "{actor} ended the contract “{contract}”",
    EventKind.BONUS_PAID: "{actor} paid you a bonus of {amount} on “{contract}”",
    # Automatic actions: a deadline acted, nobody did.
    EventKind.MILESTONE_AUTO_RELEASED: "The review window of “{milestone}” of “{contract}” "
    "ended without an answer: {amount} was released",
    EventKind.REFUND_AUTO_ACCEPTED: "The refund request of {amount} on “{milestone}” of "
    "“{contract}” was not answered in time: it is accepted",
}


def display_name(user: User) -> str:
    return user.name or user.email or user.sub


def notification_message(
    kind: EventKind,
    actor: User | None,
    contract: Contract,
    milestone: Milestone | None,
    amount: int | None = None,
) -> str:
    return (
        _SENTENCES[kind].format(
            actor=display_name(actor) if actor is not None else "",
            contract=contract.title,
            milestone=milestone.title if milestone is not None else "",
            amount=f"{cents_to_decimal(amount or 0)} {contract.currency}",
        )
        + "."
    )


async def record(
    action: Action,
    contract: Contract,
    kind: EventKind,
    actor: User | None,
    *,
    milestone: Milestone | None = None,
    change_request: ChangeRequest | None = None,
    refund_request: RefundRequest | None = None,
    amount: int | None = None,
    note: str | None = None,
) -> ContractEvent:
    """Append the event (next seq of the locked contract) and notify the other party (both
    parties when `actor` is None: an automatic action).

    `amount` (minor units) is the money the event moved, for the notification's sentence;
    `note` is what the actor wrote with the action, kept on the event, the notification and
    the email."""
    contract.event_seq += 1
    await Contract.filter(id=contract.id).update(event_seq=contract.event_seq)
    event = await ContractEvent.create(
        contract_id=contract.id,
        seq=contract.event_seq,
        kind=kind,
        actor_id=actor.id if actor is not None else None,
        milestone_id=milestone.id if milestone else None,
        change_request_id=change_request.id if change_request else None,
        refund_request_id=refund_request.id if refund_request else None,
        note=note,
    )
    action.wake(f"contract:{contract.id}", event.seq)
    message = notification_message(kind, actor, contract, milestone, amount)
    recipients = (
        [contract.client_id, contract.freelancer_id]
        if actor is None
        else [other_party_id(contract, actor.id)]
    )
    item: EmailItem | None = None

    async def the_email_item() -> EmailItem:
        # Built once for all recipients, and only when someone gets an email.
        nonlocal item
        if item is None:
            item = await email_item(
                kind,
                message,
                contract,
                note=note,
                change_request=change_request,
                refund_request=refund_request,
                dispute_id=getattr(event, "dispute_id", None),
            )
        return item

    for recipient_id in recipients:
        await _notify(action, event, recipient_id, message, milestone, amount, note, the_email_item)
    return event


async def _notify(
    action: Action,
    event: ContractEvent,
    recipient_id: int,
    message: str,
    milestone: Milestone | None,
    amount: int | None,
    note: str | None,
    the_email_item: Callable[[], Awaitable[EmailItem]],
) -> None:
    """The recipient's notification of `event`, its webhook deliveries and its email."""
    seq_and_settings = await _next_notification_seq(recipient_id)
    notification_seq, recipient_email, has_webhooks, email_on, muted = seq_and_settings
    notification = await Notification.create(
        recipient_id=recipient_id,
        seq=notification_seq,
        event_id=event.id,
        kind=event.kind,
        contract_id=event.contract_id,
        actor_id=event.actor_id,
        message=message,
        note=note,
    )
    action.wake(f"user:{recipient_id}", notification.seq)
    if has_webhooks:
        await enqueue_deliveries(action, notification, milestone.id if milestone else None, amount)
    if _email_enabled and recipient_email and wants_email(event.kind, email_on, muted):
        await enqueue_email(action, notification, recipient_email, await the_email_item())


async def enqueue_email(
    action: Action, notification: Notification, address: str, item: EmailItem
) -> None:
    """The notification's outbox row (the recipient wants this email: `wants_email`); sent
    after commit. A notification with a deadline (a reminder) names it in the email."""
    deadline = getattr(notification, "deadline", None)
    if isinstance(deadline, dt.datetime):
        item = dataclasses.replace(item, deadline=deadline)
    email = await EmailOutbox.create(
        notification_id=notification.id,
        to_address=address,
        subject=notification.message[:300],
        body=email_body(notification.message, notification.note),
        details=item.to_json(),
        next_attempt_at=dt.datetime.now(dt.UTC),
    )
    action.wake("email", email.id)  # the outbox sender sends it after commit


async def email_recipient(notification: Notification) -> str | None:
    """The address to email `notification` to, or None (no SMTP, no address, or the
    recipient turned this email off): for notifications written outside `record`."""
    if not _email_enabled:
        return None
    user = await User.filter(id=notification.recipient_id).first()
    if user is None or not user.email:
        return None
    if not wants_email(notification.kind, user.email_enabled, user.muted_email_kinds):
        return None
    return user.email


def email_body(message: str, note: str | None) -> str:
    quoted = "".join(f"> {line}\n" for line in note.splitlines()) if note else ""
    noted = f"\n{quoted}" if quoted else ""
    return f"{message}\n{noted}\nOpen the contract room to see the details.\n"


_NEXT_SEQ_SQL = (
    "UPDATE users SET notification_seq = notification_seq + 1 WHERE id = {placeholder} "
    "RETURNING notification_seq, email, "
    "EXISTS (SELECT 1 FROM webhook_endpoints WHERE owner_id = users.id) AS has_webhooks, "
    "email_enabled, muted_email_kinds"
)


async def _next_notification_seq(user_id: int) -> tuple[int, str | None, bool, bool, str]:
    """The recipient's next notification number, their email, whether they have webhook
    endpoints, and their email settings (`email_enabled`, `muted_email_kinds`): one statement
    (no extra query per notification for the many without any).
    The UPDATE locks the row until commit, so a user's sequence has no gaps and no races."""
    connection = connections.get("default")  # the action's transaction
    placeholder = "$1" if connection.capabilities.dialect == "postgres" else "?"
    # execute_query_dict fetches rows whatever the statement (asyncpg's execute_query does
    # not for an UPDATE).
    (row,) = await connection.execute_query_dict(
        _NEXT_SEQ_SQL.format(placeholder=placeholder), [user_id]
    )
    return (
        int(row["notification_seq"]),
        row["email"],
        bool(row["has_webhooks"]),
        bool(row["email_enabled"]),
        str(row["muted_email_kinds"] or ""),
    )
