"""The text and HTML parts of a notification email, from Jinja2 templates (`templates/`).

One item is an email about one notification; several (coalesced within EMAIL_COALESCE_WINDOW)
are one email listing each with its own link. HTML templates autoescape everything they are
given; the text part is plain text. What goes in headers is `one_line` text.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jinja2

from milestones.domain.email_items import ChangeLine, EmailItem
from milestones.emails.links import EmailLinks

MAX_SUBJECT_CHARACTERS = 200

_templates = jinja2.Environment(
    loader=jinja2.PackageLoader("milestones.emails", "templates"),
    autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=False),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)

# What the link invites to do, by kind (anything else: open the contract).
_CALLS_TO_ACTION = {
    "CHANGE_REQUEST_SUBMITTED": "Review the change request",
    "REFUND_REQUESTED": "Answer the refund request",
    "MILESTONE_SUBMITTED": "Review the work",
    "DISPUTE_OPENED": "Answer the dispute",
    "DISPUTE_ESCALATED": "Decide the dispute",
    "CONTRACT_OFFERED": "Answer the offer",
    "DEADLINE_REMINDER": "Act before the deadline",
}
_VERBS = {"ADD": "Add", "EDIT": "Edit", "DELETE": "Delete"}


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def one_line(text: str) -> str:
    """Header-safe text: control and line-separator characters become one space."""
    cleaned = "".join(
        " " if unicodedata.category(char) in ("Cc", "Zl", "Zp") else char for char in text
    )
    return " ".join(cleaned.split())


def body_text(text: str) -> str:
    """Body-safe text: lines kept, other control characters dropped."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return "".join(
        char
        for char in text
        if char in "\n\t" or unicodedata.category(char) not in ("Cc", "Zl", "Zp")
    )


def describe_change(line: ChangeLine) -> str:
    """One line per change: `Add “Launch support”: 750.00 USD, due 2027-01-15`."""
    verb = _VERBS.get(line.kind, line.kind.title())
    if line.kind == "ADD":
        head = f"{verb} “{one_line(line.title or '')}”"
        parts = [part for part in (line.amount, line.due_date and f"due {line.due_date}") if part]
    else:
        head = f"{verb} “{one_line(line.milestone or 'a milestone')}”"
        parts = []
        if line.kind == "EDIT":
            if line.title:
                parts.append(f"title “{one_line(line.title)}”")
            if line.amount:
                parts.append(f"amount {line.amount}")
            if line.due_date:
                parts.append(f"due {line.due_date}")
            if line.description:
                parts.append("new description")
            parts.extend(f"{field} cleared" for field in line.cleared)
    return f"{head}: {', '.join(parts)}" if parts else head


def describe_deadline(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%a %d %b %Y, %H:%M UTC")


def _context(item: EmailItem, links: EmailLinks) -> dict[str, Any]:
    note = body_text(item.note).strip("\n") if item.note else ""
    return {
        "sentence": one_line(item.sentence),
        "note_lines": note.split("\n") if note else [],
        "deadline": describe_deadline(item.deadline) if item.deadline is not None else None,
        "changes": [describe_change(line) for line in item.changes],
        "url": links.act(item),
        "call_to_action": _CALLS_TO_ACTION.get(item.kind, "Open the contract"),
    }


def subject_of(items: Sequence[EmailItem]) -> str:
    subject = one_line(items[0].sentence) if len(items) == 1 else f"{len(items)} new notifications"
    return subject[:MAX_SUBJECT_CHARACTERS] or "Notification"


def render_email(
    items: Sequence[EmailItem], links: EmailLinks, unsubscribe_url: str | None
) -> RenderedEmail:
    """Subject, text and HTML of one email telling `items` (one, or a list of them)."""
    assert items, "an email tells at least one notification"
    subject = subject_of(items)
    context = {
        "items": [_context(item, links) for item in items],
        "coalesced": len(items) > 1,
        "unsubscribe_url": unsubscribe_url,
        "subject": subject,
    }
    return RenderedEmail(
        subject=subject,
        text=_templates.get_template("notification.txt").render(context),
        html=_templates.get_template("notification.html").render(context),
    )
