"""Parse at the edge: what a client sent, turned into the domain's typed values.

Every parser takes the raw input value, returns the typed value (or a placeholder when it
cannot), and adds a VALIDATION problem naming the command's field when the value is bad. The
resulting command carries those problems; the domain raises them at the VALIDATION step.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Final

from strawberry import UNSET

from milestones import ids
from milestones.domain.commands import EVERY_CONTRACT, AttachmentFile, Every, MilestoneEdit
from milestones.domain.emails import email_key, email_problem
from milestones.domain.errors import Validation
from milestones.domain.values import (
    DEFAULT_CURRENCY,
    MAX_AMOUNT_CENTS,
    MAX_ATTACHMENTS,
    MAX_KEY_LENGTH,
    MAX_MESSAGE_LENGTH,
    MAX_TITLE_LENGTH,
    OMITTED,
    Omitted,
)
from milestones.models.enums import EventKind
from milestones.webhooks.addresses import url_problem

# ASCII only: `\d` would take Arabic-Indic, full-width or Devanagari digits.
_AMOUNT: Final = re.compile(r"[0-9]+(?:\.[0-9]{1,2})?")
_DATE: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_CURRENCY: Final = re.compile(r"[A-Z]{3}")
# One-line text (titles, keys): no control character at all, nor Unicode line breaks.
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# Multi-line text (descriptions, messages): line breaks and tabs are fine, the rest is not.
_CONTROL_IN_TEXT: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def optional(value: object) -> object:
    """A field where "not sent" and null mean the same: nothing."""
    return None if value is UNSET else value


def freelancer_email(raw: object, field: str, errors: Validation) -> str | None:
    """The normalised address of an offer by email, or None when none was sent."""
    if raw is None or raw is UNSET:
        return None
    if not isinstance(raw, str):
        errors.add(field, "Must be a string.")
        return None
    problem = email_problem(raw)
    if problem is not None:
        errors.add(field, problem)
        return None
    return email_key(raw)


def node_id(raw: object, type_name: str) -> int | None:
    """The key of an object of `type_name`, or None when `raw` names none."""
    return ids.decode(raw, type_name)


def amount(raw: object, field: str, errors: Validation, *, zero: bool = False) -> int:
    """Minor units of a positive amount (ASCII digits, at most two decimals, at most
    9999999.99), from a string or a JSON integer; 0 after a problem. `zero`: 0 is allowed
    too (a payment or a mediator's release may be nothing)."""
    if raw is None or raw is UNSET or isinstance(raw, Omitted):
        errors.add(field, "Amount is required.")
        return 0
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        errors.add(field, 'Amount must be a string such as "1500.00" or an integer.')
        return 0
    if isinstance(raw, int):
        cents = raw * 100
    elif _AMOUNT.fullmatch(raw):
        whole, _, fraction = raw.partition(".")
        cents = int(whole) * 100 + int(fraction.ljust(2, "0") or "0")
    else:
        if raw.startswith("-") and _AMOUNT.fullmatch(raw[1:]):
            errors.add(field, "Amount must be positive.")
        else:
            errors.add(field, "Amount must be a number with at most two decimal places.")
        return 0
    if cents == 0 and zero:
        return 0
    if cents <= 0:
        errors.add(field, "Amount must be positive.")
    elif cents > MAX_AMOUNT_CENTS:
        errors.add(field, "Amount must be at most 9999999.99.")
    else:
        return cents
    return 0


def title(raw: object, field: str, errors: Validation) -> str:
    """1 to 200 characters after trimming, on one line; "" after a problem."""
    if not isinstance(raw, str):
        errors.add(field, "Title is required.")
        return ""
    text = raw.strip()
    if not text:
        errors.add(field, "Title must not be empty.")
    elif len(text) > MAX_TITLE_LENGTH:
        errors.add(field, f"Title must be at most {MAX_TITLE_LENGTH} characters.")
    elif _CONTROL.search(text):
        errors.add(field, "Title must be one line without control characters.")
    else:
        return text
    return ""


def text(raw: object, field: str, errors: Validation) -> str | None:
    """An optional free text (message, description): None, or trimmed, at most 5000
    characters, line breaks allowed but no other control character."""
    if raw is None or raw is UNSET or isinstance(raw, Omitted):
        return None
    if not isinstance(raw, str):
        errors.add(field, "Must be a string.")
        return None
    trimmed = raw.strip()
    if len(trimmed) > MAX_MESSAGE_LENGTH:
        errors.add(field, f"Must be at most {MAX_MESSAGE_LENGTH} characters.")
        return None
    if _CONTROL_IN_TEXT.search(trimmed):
        errors.add(field, "Must not contain control characters (line breaks are fine).")
        return None
    return trimmed or None


def attachments(raw: object, field: str, errors: Validation) -> tuple[AttachmentFile, ...]:
    """The files of a multipart request (the HTTP front put them in the variables), at most
    MAX_ATTACHMENTS; () after a problem."""
    if raw is None or raw is UNSET or isinstance(raw, Omitted):
        return ()
    files = raw if isinstance(raw, list) else [raw]
    if len(files) > MAX_ATTACHMENTS:
        errors.add(field, f"At most {MAX_ATTACHMENTS} files, got {len(files)}.")
        return ()
    for index, file in enumerate(files):
        if not isinstance(file, AttachmentFile):
            errors.add(
                f"{field}.{index}",
                "Must be a file of a multipart request (the GraphQL multipart request spec).",
            )
            return ()
    return tuple(files)


def date(raw: object, field: str, errors: Validation) -> dt.date | None:
    if raw is None or raw is UNSET or isinstance(raw, Omitted):
        return None
    if isinstance(raw, str) and _DATE.fullmatch(raw):
        try:
            return dt.date.fromisoformat(raw)
        except ValueError:
            pass
    errors.add(field, "Date must be a calendar date written YYYY-MM-DD.")
    return None


def currency(raw: object, field: str, errors: Validation) -> str:
    if raw is None or raw is UNSET:
        return DEFAULT_CURRENCY
    if isinstance(raw, str) and _CURRENCY.fullmatch(code := raw.strip().upper()):
        return code
    errors.add(field, "Currency must be a three-letter ISO 4217 code such as USD.")
    return DEFAULT_CURRENCY


def idempotency_key(raw: object, errors: Validation) -> str | None:
    """1 to 255 characters, no control characters: a bad key is a VALIDATION problem (and
    is then never looked up)."""
    if raw is None or raw is UNSET:
        return None
    if (
        not isinstance(raw, str)
        or not raw.strip()
        or len(raw) > MAX_KEY_LENGTH
        or _CONTROL.search(raw)
    ):
        errors.add(
            "idempotency_key",
            f"Idempotency key must be 1 to {MAX_KEY_LENGTH} characters without control characters.",
        )
        return None
    return raw


def expected_version(raw: object, errors: Validation) -> int | None:
    if raw is None or raw is UNSET:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 1:
        errors.add("expected_version", "Expected version must be a positive integer.")
        return None
    return raw


def milestone_edit(
    errors: Validation,
    prefix: str,
    *,
    title_: object,
    description: object,
    due_date: object,
    amount_: object,
) -> MilestoneEdit:
    """The fields an edit sets: omitted ones stay, an explicit null clears description or
    due date (and is a problem for title and amount, which cannot be cleared)."""
    return MilestoneEdit(
        title=OMITTED if title_ is UNSET else title(title_, f"{prefix}title", errors),
        description=(
            OMITTED if description is UNSET else text(description, f"{prefix}description", errors)
        ),
        due_date=OMITTED if due_date is UNSET else date(due_date, f"{prefix}due_date", errors),
        amount=OMITTED if amount_ is UNSET else amount(amount_, f"{prefix}amount", errors),
    )


def sent(*values: object) -> bool:
    """Whether any of these input fields was sent."""
    return any(value is not UNSET for value in values)


def webhook_url(raw: object, field: str, errors: Validation, *, production: bool) -> str:
    """A trimmed absolute http(s) URL of the allowed shape (where its host resolves is the
    domain's check); "" after a problem."""
    if not isinstance(raw, str):
        errors.add(field, "The URL is required.")
        return ""
    url = raw.strip()
    problem = url_problem(url, production=production)
    if problem is not None:
        errors.add(field, problem)
        return ""
    return url


def event_kinds(raw: object, field: str, errors: Validation) -> tuple[EventKind, ...]:
    """At least one kind; sorted and without repeats, so one set is one command."""
    if not isinstance(raw, list) or not raw:
        errors.add(field, "Choose at least one kind of notification.")
        return ()
    return tuple(sorted({EventKind(kind) for kind in raw}))


def contract_scope(raw: object) -> int | Every | None:
    """A webhook endpoint's contract: null is every contract; an id, that one."""
    return EVERY_CONTRACT if raw is None or raw is UNSET else node_id(raw, "Contract")


def email(raw: object, field: str, errors: Validation) -> str:
    """An email address in its normalised form (how emails are compared, `email_key`); ""
    after a problem."""
    if not isinstance(raw, str):
        errors.add(field, "Email is required.")
        return ""
    problem = email_problem(raw)
    if problem is not None:
        errors.add(field, problem)
        return ""
    return email_key(raw) or ""


def name(raw: object, field: str, errors: Validation) -> str:
    """A name (of a team): as a title, 1 to 200 characters after trimming, one line."""
    if not isinstance(raw, str):
        errors.add(field, "Name is required.")
        return ""
    text = raw.strip()
    if not text:
        errors.add(field, "Name must not be empty.")
    elif len(text) > MAX_TITLE_LENGTH:
        errors.add(field, f"Name must be at most {MAX_TITLE_LENGTH} characters.")
    elif _CONTROL.search(text):
        errors.add(field, "Name must be one line without control characters.")
    else:
        return text
    return ""


def team_scope(raw: object) -> int | None:
    """A team named as a contract's side: None when not named; a key that names nothing
    (0) when the id is not a team's, so that it answers NOT_FOUND."""
    given = optional(raw)
    if given is None:
        return None
    return node_id(given, "Team") or 0
