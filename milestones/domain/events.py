"""The contract's event log and the other party's notifications, written with the change:
one per person on the other side who may see the room (a team party's members), never the
actor's own."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tortoise import connections, timezone

from milestones.domain.access import Role, access_of
from milestones.domain.bulk import (
    Insert,
    Update,
    insert_many,
    insert_select_sql,
    insert_values_sql,
    write_clauses,
)
from milestones.domain.email_items import EmailItem, email_item, wants_email
from milestones.domain.transaction import Action
from milestones.domain.values import cents_to_decimal
from milestones.domain.webhooks import enqueue_deliveries
from milestones.models import (
    ChangeRequest,
    Contract,
    ContractEvent,
    Dispute,
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
    EventKind.CONTRACT_OFFERED: "{actor} offered you the contract “{contract}”",
    EventKind.CONTRACT_ACCEPTED: "{actor} accepted your offer “{contract}”",
    EventKind.CONTRACT_DECLINED: "{actor} declined the offer “{contract}”",
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
    EventKind.DISPUTE_OPENED: "{actor} opened a dispute over {amount} on “{contract}”",
    EventKind.DISPUTE_ACCEPTED: "{actor} accepted the dispute on “{contract}” and released "
    "{amount}",
    EventKind.DISPUTE_ESCALATED: "{actor} sent the dispute on “{contract}” to mediation",
    EventKind.DISPUTE_RESOLVED: "{actor} decided the dispute on “{contract}”: {amount} released "
    "to the freelancer",
    EventKind.DISPUTE_AUTO_RESOLVED: "The dispute on “{contract}” was not answered in time: "
    "{amount} was released",
}


def display_name(user: User) -> str:
    return user.name or user.email or user.sub


_WITHDRAWN = "{actor} withdrew the offer “{contract}”"


def notification_message(
    kind: EventKind,
    actor: User | None,
    contract: Contract,
    milestone: Milestone | None,
    amount: int | None = None,
) -> str:
    sentence = _SENTENCES[kind]
    if kind is EventKind.CONTRACT_DECLINED and actor is not None and actor.id == contract.client_id:
        sentence = _WITHDRAWN
    return (
        sentence.format(
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
    dispute: Dispute | None = None,
    amount: int | None = None,
    note: str | None = None,
    also_notify: Iterable[int] = (),
) -> ContractEvent:
    """Append the event (next seq of the locked contract) and notify the other party (both
    parties when `actor` is None, an automatic action, or not a party, a mediator), and
    the users `also_notify` names (mediators), never the actor.

    `amount` (minor units) is the money the event moved, kept on the event and its
    notifications and said in the notification's sentence;
    `note` is what the actor wrote with the action, kept on the event, the notification and
    the email."""
    contract.event_seq += 1
    fields: dict[str, Any] = {
        "contract_id": contract.id,
        "seq": contract.event_seq,
        "kind": kind,
        "actor_id": actor.id if actor is not None else None,
        "milestone_id": milestone.id if milestone else None,
        "change_request_id": change_request.id if change_request else None,
        "refund_request_id": refund_request.id if refund_request else None,
        "dispute_id": dispute.id if dispute else None,
        "note": note,
        "amount": amount,
        "occurred_at": timezone.now(),
    }
    bump = Update("contracts", {"event_seq": contract.event_seq}, {"id": contract.id})
    action.changed.add(contract.id)
    event = ContractEvent(**fields)
    event._saved_in_db = True
    # PostgreSQL: the contract's next seq, the event, the recipients' numbers and their
    # notifications in one statement (`_EventInsert`); SQLite: the event first.
    written_with: _EventInsert | None = None
    if connections.get("default").capabilities.dialect == "postgres":
        # With the writes the action handed over (`Action.carried`): its money, say.
        written_with = _EventInsert(event, fields, [bump, *action.carried])
        action.carried.clear()
    else:
        (event.id,) = await insert_many(ContractEvent, fields, [{}], also=[bump])
    action.wake(f"contract:{contract.id}", event.seq)
    message = notification_message(kind, actor, contract, milestone, amount)
    recipients = await _recipients(contract, actor)
    recipients.people.extend(pk for pk in also_notify if pk not in recipients.people)
    await _notify_all(
        action,
        recipients,
        {
            "event_id": event.id,
            "kind": event.kind,
            "contract_id": event.contract_id,
            "actor_id": event.actor_id,
            "message": message,
            "note": note,
            "amount": amount,
        },
        milestone.id if milestone else None,
        amount,
        _lazy_item(
            lambda: email_item(
                kind,
                message,
                contract,
                note=note,
                change_request=change_request,
                refund_request=refund_request,
                dispute_id=dispute.id if dispute is not None else None,
            )
        ),
        written_with,
    )
    return event


def _lazy_item(build: Callable[[], Awaitable[EmailItem]]) -> Callable[[], Awaitable[EmailItem]]:
    """`build`, run once and only when someone gets an email (for all the recipients)."""
    built: list[EmailItem] = []

    async def item() -> EmailItem:
        if not built:
            built.append(await build())
        return built[0]

    return item


async def notify_late(action: Action, event: ContractEvent, recipient_id: int) -> None:
    """The notification `recipient_id` would have had of `event` had they been known then
    (an offer by email, delivered at the invitee's first sign-in)."""
    contract = await Contract.get(id=event.contract_id)
    actor = await User.get_or_none(id=event.actor_id) if event.actor_id is not None else None
    await _notify_all(
        action,
        _Recipients([recipient_id], [], None),
        {
            "event_id": event.id,
            "kind": event.kind,
            "contract_id": event.contract_id,
            "actor_id": event.actor_id,
            "message": notification_message(event.kind, actor, contract, None),
            "note": event.note,
        },
        None,
        None,
        _lazy_item(
            lambda: email_item(
                event.kind,
                notification_message(event.kind, actor, contract, None),
                contract,
                note=event.note,
            )
        ),
    )


async def remind(
    action: Action,
    contract: Contract,
    recipient_ids: list[int],
    message: str,
    deadline: dt.datetime,
    *,
    milestone_id: int | None = None,
    refund_request_id: int | None = None,
    dispute_id: int | None = None,
) -> None:
    """A DEADLINE_REMINDER to each of `recipient_ids`: a notification only (no room event, no
    actor), naming its deadline and what it concerns; webhooks and email as any other."""
    await _notify_all(
        action,
        _Recipients(list(recipient_ids), [], None),
        {
            "event_id": None,
            "kind": EventKind.DEADLINE_REMINDER,
            "contract_id": contract.id,
            "actor_id": None,
            "message": message,
            "deadline": deadline,
            "milestone_id": milestone_id,
            "refund_request_id": refund_request_id,
            "dispute_id": dispute_id,
        },
        milestone_id,
        None,
        _lazy_item(
            lambda: _reminder_item(contract, message, deadline, refund_request_id, dispute_id)
        ),
    )


async def _reminder_item(
    contract: Contract,
    message: str,
    deadline: dt.datetime,
    refund_request_id: int | None,
    dispute_id: int | None,
) -> EmailItem:
    item = await email_item(
        EventKind.DEADLINE_REMINDER, message, contract, dispute_id=dispute_id, deadline=deadline
    )
    return dataclasses.replace(item, refund_request_id=refund_request_id)


async def _recipients(contract: Contract, actor: User | None) -> _Recipients:
    """Everyone on the other side of the actor who may see the room (both sides for an
    automatic action or a mediator's), never the actor: a person party, or a team party's
    matched members."""
    access = await access_of(actor, contract) if actor is not None else None
    if access is None or access.role is Role.MEDIATOR:
        sides = [Role.CLIENT, Role.FREELANCER]
    else:
        sides = [Role.FREELANCER if access.role is Role.CLIENT else Role.CLIENT]
    people: list[int] = []
    teams: list[int] = []
    for side in sides:
        team = contract.client_team_id if side is Role.CLIENT else contract.freelancer_team_id
        person = contract.client_id if side is Role.CLIENT else contract.freelancer_id
        if team is not None:
            teams.append(team)
        elif person is not None:
            people.append(person)
    return _Recipients(people, teams, actor.id if actor is not None else None)


@dataclass(frozen=True, slots=True)
class _Recipients:
    people: list[int]
    teams: list[int]  # their members with a user
    actor_id: int | None


async def _notify_all(
    action: Action,
    recipients: _Recipients,
    fields: dict[str, Any],
    milestone_id: int | None,
    amount: int | None,
    the_email_item: Callable[[], Awaitable[EmailItem]],
    event: _EventInsert | None = None,
) -> None:
    """Each recipient's notification (its `fields` shared by all), their webhook deliveries
    and emails (to those who want this kind: `wants_email`): the notifications are numbered
    and written in one statement on PostgreSQL (two on SQLite), the emails in one more.
    `event`: the event the notifications are of, written by the same statement (PostgreSQL)."""
    now = dt.datetime.now(dt.UTC)
    shared = {**fields, "created_at": now}
    written = await _insert_notifications(recipients, shared, event)
    if not written:
        return
    ids = [pk for pk, _ in written]
    numbered = [recipient for _, recipient in written]
    # The people parties' rows, for the payload (`client`, `freelancer`); not every member
    # of a team side: a model instance each costs more than the payload saves.
    action.users.update(
        (recipient.user_id, recipient.user())
        for recipient in numbered
        if recipient.user_id in recipients.people
    )
    message: str = shared["message"]
    note: str | None = shared.get("note")
    for pk, recipient in zip(ids, numbered, strict=True):
        action.wake(f"user:{recipient.user_id}", recipient.seq)
        if recipient.has_webhooks:
            notification = Notification(
                id=pk, recipient_id=recipient.user_id, seq=recipient.seq, **shared
            )
            await enqueue_deliveries(action, notification, milestone_id, amount)
    if not _email_enabled:
        return
    kind = str(shared["kind"])
    emailed = [
        {"notification_id": pk, "to_address": recipient.email}
        for pk, recipient in zip(ids, numbered, strict=True)
        if recipient.email and wants_email(kind, recipient.email_enabled, recipient.muted)
    ]
    if not emailed:
        return
    email_ids = await insert_many(
        EmailOutbox,
        {
            "subject": message[:300],
            "body": email_body(message, note),
            "details": (await the_email_item()).to_json(),
            "next_attempt_at": now,
            "created_at": now,
        },
        emailed,
    )
    if email_ids:
        action.wake("email", email_ids[-1])  # the outbox sender sends them after commit


def email_body(message: str, note: str | None) -> str:
    quoted = "".join(f"> {line}\n" for line in note.splitlines()) if note else ""
    noted = f"\n{quoted}" if quoted else ""
    return f"{message}\n{noted}\nOpen the contract room to see the details.\n"


@dataclass(frozen=True, slots=True)
class _Numbered:
    user_id: int
    seq: int
    email: str | None
    has_webhooks: bool
    email_enabled: bool
    muted: str
    # The users row as this action leaves it (`user()`; whole only for a people party).
    row: Mapping[str, Any]

    def user(self) -> User:
        return User._init_from_db(
            **{k: v for k, v in self.row.items() if k not in _NOT_USER_COLUMNS}
        )


_RECIPIENTS_SQL = (
    "(id IN ({people}) OR id IN (SELECT user_id FROM team_members WHERE team_id IN ({teams})))"
)

# The whole row: the action's payload shows these users (the other party) as they are now.
# ({row}: `users.*` on PostgreSQL, whose UPDATE joins another relation; `*` on SQLite, which
# takes no `table.*` there.)
_RETURNING = (
    "RETURNING {row}, "
    "EXISTS (SELECT 1 FROM webhook_endpoints WHERE owner_id = users.id) AS has_webhooks"
)


def _numbering(recipients: _Recipients, postgres: bool, first: int = 1) -> tuple[str, list[object]]:
    """The statement giving each recipient their next notification number (with their row and
    whether they have webhook endpoints), whoever they are (team members are found by it
    too). The UPDATE locks the rows until commit, so a user's sequence has no gaps and no
    races; on PostgreSQL it locks them in id order, so two actions never deadlock on them,
    and finds them by primary key (the ids as one array: an `OR` of the two lists made it
    scan every user, 9.5 ms with 20,000 users). PostgreSQL's parameters are numbered from
    `first`."""
    people = recipients.people or [0]
    teams = recipients.teams or [0]
    actor = recipients.actor_id if recipients.actor_id is not None else 0
    if postgres:
        return _postgres_numbering(first, bool(recipients.people)), [people, teams, actor]
    sql = (
        "UPDATE users SET notification_seq = notification_seq + 1 WHERE "
        + _RECIPIENTS_SQL.format(
            people=", ".join("?" * len(people)), teams=", ".join("?" * len(teams))
        )
        + " AND id <> ? "
        + _RETURNING.format(row="*")
    )
    return sql, [*people, *teams, actor]


@functools.lru_cache(maxsize=64)
def _postgres_numbering(first: int, whole_rows: bool) -> str:
    """`whole_rows`: every column (a people party's row is the payload's); else only what
    numbering a team member's notification needs (`_numbered`)."""
    return (
        "UPDATE users SET notification_seq = users.notification_seq + 1 FROM ("
        f"SELECT id FROM users WHERE id = ANY(ARRAY(SELECT unnest(${first}::int[]) UNION "
        f"SELECT user_id FROM team_members WHERE team_id = ANY(${first + 1}::int[])))"
        f" AND id <> ${first + 2} ORDER BY id FOR UPDATE"
        ") AS recipient WHERE users.id = recipient.id "
        + _RETURNING.format(row="users.*" if whole_rows else _NUMBERING_COLUMNS)
    )


_NUMBERING_COLUMNS = (
    "users.id, users.notification_seq, users.email, users.email_enabled, users.muted_email_kinds"
)


_NOT_USER_COLUMNS = ("has_webhooks", "notification_id")


def _numbered(row: Mapping[str, Any]) -> _Numbered:
    return _Numbered(
        int(row["id"]),
        int(row["notification_seq"]),
        row["email"],
        bool(row["has_webhooks"]),
        bool(row["email_enabled"]),
        str(row["muted_email_kinds"] or ""),
        row,
    )


@dataclass(slots=True)
class _EventInsert:
    """PostgreSQL: an event not written yet, whose INSERT (with the contract's seq UPDATE)
    goes first in the statement that writes its notifications, as WITH clauses; the id it
    gets is set on `event` (and on its notifications' `event_id`)."""

    event: ContractEvent
    fields: dict[str, Any]
    writes: list[Update | Insert]  # the contract's seq UPDATE, and what the action carried

    def clauses(self) -> tuple[str, list[object]]:
        """`also0 AS (UPDATE contracts ...), ..., new_event AS (INSERT ... RETURNING id), `."""
        writes, values = write_clauses(self.writes)
        insert, inserted = insert_values_sql(ContractEvent, self.fields, len(values) + 1)
        values.extend(inserted)
        return _event_clauses(writes, insert), values


@functools.lru_cache(maxsize=256)
def _event_clauses(bump: str, insert: str) -> str:
    return f'{bump}, new_event AS ({insert} RETURNING "id"), '


@functools.lru_cache(maxsize=256)
def _notifying_sql(clauses: str, numbering: str, insert: str, with_event: bool) -> str:
    """`_insert_notifications`'s statement from its parts (kept: its parts are texts kept by
    their builders, so the same statement comes back as the same text object)."""
    notified = (
        "SELECT recipient.*, inserted.id AS notification_id FROM recipient "
        "JOIN inserted ON inserted.recipient_id = recipient.id"
    )
    sql = (
        f"WITH {clauses}recipient AS ({numbering}), "
        f'inserted AS ({insert} RETURNING "id", "recipient_id") '
    )
    if not with_event:
        return sql + f"{notified} ORDER BY recipient.id"
    return sql + (
        f"SELECT new_event.id AS new_event_id, numbered.* FROM new_event LEFT JOIN "
        f"({notified}) AS numbered ON TRUE ORDER BY numbered.id"
    )


async def _insert_notifications(
    recipients: _Recipients, shared: dict[str, Any], event: _EventInsert | None = None
) -> list[tuple[int, _Numbered]]:
    """Each recipient numbered and their notification (`shared` and their number) written:
    (notification id, recipient), by recipient id. One statement on PostgreSQL (the
    numbering UPDATE feeds the INSERT; `event`, when given, is written first by the same
    statement), two on SQLite."""
    connection = connections.get("default")  # the action's transaction
    postgres = connection.capabilities.dialect == "postgres"
    if not postgres:
        numbering, parameters = _numbering(recipients, postgres)
        # execute_query_dict fetches rows whatever the statement.
        numbered = sorted(
            (_numbered(row) for row in await connection.execute_query_dict(numbering, parameters)),
            key=lambda recipient: recipient.user_id,
        )
        rows = [{"recipient_id": r.user_id, "seq": r.seq} for r in numbered]
        return list(zip(await insert_many(Notification, shared, rows), numbered, strict=True))
    # The event, when given, goes first (WITH clauses); its row comes back whether anyone is
    # notified or not (a LEFT JOIN from it), with its id.
    clauses, parameters = event.clauses() if event is not None else ("", [])
    numbering, numbered_by = _numbering(recipients, True, len(parameters) + 1)
    parameters.extend(numbered_by)
    taken = {"recipient_id": "recipient.id", "seq": "recipient.notification_seq"}
    if event is not None:
        taken["event_id"] = "new_event.id"
    insert, values = insert_select_sql(
        Notification,
        {k: v for k, v in shared.items() if k not in taken},
        "recipient CROSS JOIN new_event" if event is not None else "recipient",
        taken,
        len(parameters) + 1,
    )
    parameters.extend(values)
    sql = _notifying_sql(clauses, numbering, insert, event is not None)
    # The driver's records as they come (a team side's fifty rows are not copied to dicts).
    _, rows = await connection.execute_query(sql, parameters)
    if event is not None:  # the caller's notifications (webhooks) carry it too
        event.event.id = shared["event_id"] = int(rows[0]["new_event_id"])
    return [
        (int(row["notification_id"]), _numbered(row))
        for row in rows
        if row["notification_id"] is not None
    ]
