"""What a notification email tells, fixed when the notification is written.

One `EmailItem` per notification, stored as JSON with its outbox row (`EmailOutbox.details`)
and rendered when the email is sent (`milestones/emails/`): the sentence, the note the actor
wrote, the deadline if any, a change request's changes, and the ids the link to act on it
needs. Written in the action's transaction, so the email says what was true when it happened,
and sending reads nothing else of the room (a coalesced email of 100 items is one query).

Whether a person gets emails at all is theirs to say (`email_enabled`, `muted_email_kinds`):
`wants_email` is the one rule, asked when the row would be written and again when it is sent.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from milestones.domain.values import cents_to_decimal
from milestones.models import ChangeRequest, Contract, Milestone, MilestoneChange, RefundRequest
from milestones.models.enums import ChangeKind, EventKind

DETAILS_VERSION = 1


def muted_kinds(stored: str | None) -> frozenset[str]:
    """The kinds a user muted, from their stored comma-separated list."""
    return frozenset(kind for kind in (stored or "").split(",") if kind)


def stored_muted_kinds(kinds: Iterable[EventKind]) -> str:
    """Sorted and without repeats: one set, one stored value."""
    return ",".join(sorted({EventKind(kind).value for kind in kinds}))


def wants_email(kind: str, email_enabled: bool, muted: str | None) -> bool:
    """Email only: in-app and live notifications are never muted."""
    return bool(email_enabled) and kind not in muted_kinds(muted)


@dataclass(frozen=True, slots=True)
class ChangeLine:
    """One change of a change request, as the email lists it."""

    kind: str  # ADD | EDIT | DELETE
    milestone: str | None = None  # the title of the milestone an EDIT or DELETE concerns
    title: str | None = None
    amount: str | None = None  # with its currency: "750.00 USD"
    due_date: str | None = None  # ISO date
    description: str | None = None
    cleared: tuple[str, ...] = ()  # fields an EDIT clears: "description", "due date"


@dataclass(frozen=True, slots=True)
class EmailItem:
    kind: str
    sentence: str
    contract_id: int | None = None
    contract_title: str | None = None
    note: str | None = None
    deadline: dt.datetime | None = None
    change_request_id: int | None = None
    refund_request_id: int | None = None
    dispute_id: int | None = None
    changes: tuple[ChangeLine, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        return {
            "v": DETAILS_VERSION,
            "kind": self.kind,
            "sentence": self.sentence,
            "contractId": self.contract_id,
            "contractTitle": self.contract_title,
            "note": self.note,
            "deadline": self.deadline.isoformat() if self.deadline is not None else None,
            "changeRequestId": self.change_request_id,
            "refundRequestId": self.refund_request_id,
            "disputeId": self.dispute_id,
            "changes": [
                {
                    "kind": line.kind,
                    "milestone": line.milestone,
                    "title": line.title,
                    "amount": line.amount,
                    "dueDate": line.due_date,
                    "description": line.description,
                    "cleared": list(line.cleared),
                }
                for line in self.changes
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EmailItem:
        deadline = data.get("deadline")
        return cls(
            kind=str(data.get("kind") or ""),
            sentence=str(data.get("sentence") or ""),
            contract_id=data.get("contractId"),
            contract_title=data.get("contractTitle"),
            note=data.get("note"),
            deadline=dt.datetime.fromisoformat(deadline) if deadline else None,
            change_request_id=data.get("changeRequestId"),
            refund_request_id=data.get("refundRequestId"),
            dispute_id=data.get("disputeId"),
            changes=tuple(
                ChangeLine(
                    kind=str(line.get("kind") or ""),
                    milestone=line.get("milestone"),
                    title=line.get("title"),
                    amount=line.get("amount"),
                    due_date=line.get("dueDate"),
                    description=line.get("description"),
                    cleared=tuple(line.get("cleared") or ()),
                )
                for line in data.get("changes") or ()
            ),
        )


async def change_lines(change_request: ChangeRequest, currency: str) -> tuple[ChangeLine, ...]:
    """The request's changes in the order they were asked, with the titles of the milestones
    they concern (two queries)."""
    changes = await MilestoneChange.filter(change_request_id=change_request.id).order_by("index")
    concerned = [c.milestone_id for c in changes if c.milestone_id is not None]
    titles = (
        dict(await Milestone.filter(id__in=concerned).values_list("id", "title"))
        if concerned
        else {}
    )
    return tuple(_line(change, titles, currency) for change in changes)


def _line(change: MilestoneChange, titles: dict[int, str], currency: str) -> ChangeLine:
    kind = ChangeKind(change.kind)
    concerned = titles.get(change.milestone_id) if change.milestone_id is not None else None
    cleared = []
    if kind is ChangeKind.EDIT and change.sets_description and change.description is None:
        cleared.append("description")
    if kind is ChangeKind.EDIT and change.sets_due_date and change.due_date is None:
        cleared.append("due date")
    return ChangeLine(
        kind=kind.value,
        # An accepted ADD created a milestone: its title is the change's own.
        milestone=concerned if kind is not ChangeKind.ADD else None,
        title=change.title,
        amount=(
            f"{cents_to_decimal(change.amount)} {currency}" if change.amount is not None else None
        ),
        due_date=change.due_date.isoformat() if change.due_date is not None else None,
        description=change.description,
        cleared=tuple(cleared),
    )


async def email_item(
    kind: EventKind,
    sentence: str,
    contract: Contract,
    *,
    note: str | None = None,
    change_request: ChangeRequest | None = None,
    refund_request: RefundRequest | None = None,
    dispute_id: int | None = None,
    deadline: dt.datetime | None = None,
) -> EmailItem:
    return EmailItem(
        kind=EventKind(kind).value,
        sentence=sentence,
        contract_id=contract.id,
        contract_title=contract.title,
        note=note,
        deadline=deadline,
        change_request_id=change_request.id if change_request is not None else None,
        refund_request_id=refund_request.id if refund_request is not None else None,
        dispute_id=dispute_id,
        changes=(
            await change_lines(change_request, contract.currency)
            if change_request is not None
            else ()
        ),
    )
