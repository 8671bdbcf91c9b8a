"""Parsing and checking of the values people type: money, titles, messages, dates."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Final

from milestones.domain.errors import Validation


class Omitted:
    """An input field that was not sent (as opposed to an explicit null)."""

    _instance: Omitted | None = None

    def __new__(cls) -> Omitted:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "OMITTED"

    def __bool__(self) -> bool:
        return False


OMITTED: Final = Omitted()

MAX_AMOUNT_CENTS: Final = 999_999_999  # 9999999.99
MAX_TITLE_LENGTH: Final = 200
MAX_MESSAGE_LENGTH: Final = 5000
MAX_KEY_LENGTH: Final = 255
CENT: Final = Decimal("0.01")
_AMOUNT_PATTERN: Final = re.compile(r"^\d+(\.\d{1,2})?$")
_CURRENCY_PATTERN: Final = re.compile(r"^[A-Z]{3}$")


def cents_to_decimal(cents: int) -> Decimal:
    return (Decimal(cents) / 100).quantize(CENT)


def parse_amount(raw: object, field: str, errors: Validation) -> int | None:
    """Minor units of a positive amount with at most two decimals, at most 9999999.99."""
    if raw is None:
        errors.add(field, "Amount is required.")
        return None
    if isinstance(raw, bool) or isinstance(raw, float):
        errors.add(field, 'Amount must be a string such as "1500.00", not a float.')
        return None
    text = str(raw).strip() if isinstance(raw, int | str | Decimal) else None
    if text is None or not _AMOUNT_PATTERN.match(text):
        if text is not None and text.startswith("-"):
            errors.add(field, "Amount must be positive.")
        else:
            errors.add(field, "Amount must be a number with at most two decimal places.")
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        errors.add(field, "Amount must be a number with at most two decimal places.")
        return None
    cents = int(value * 100)
    if cents <= 0:
        errors.add(field, "Amount must be positive.")
        return None
    if cents > MAX_AMOUNT_CENTS:
        errors.add(field, "Amount must be at most 9999999.99.")
        return None
    return cents


def parse_title(raw: object, field: str, errors: Validation) -> str | None:
    if not isinstance(raw, str):
        errors.add(field, "Title is required.")
        return None
    title = raw.strip()
    if not title:
        errors.add(field, "Title must not be empty.")
        return None
    if len(title) > MAX_TITLE_LENGTH:
        errors.add(field, f"Title must be at most {MAX_TITLE_LENGTH} characters.")
        return None
    return title


def parse_text(raw: object, field: str, errors: Validation) -> str | None:
    """An optional free text (message, description): None or a non-blank string ≤ 5000."""
    if raw is None or raw is OMITTED:
        return None
    if not isinstance(raw, str):
        errors.add(field, "Must be a string.")
        return None
    text = raw.strip()
    if len(text) > MAX_MESSAGE_LENGTH:
        errors.add(field, f"Must be at most {MAX_MESSAGE_LENGTH} characters.")
        return None
    return text or None


def parse_date(raw: object, field: str, errors: Validation) -> dt.date | None:
    if raw is None or raw is OMITTED:
        return None
    if isinstance(raw, dt.date):
        return raw
    if isinstance(raw, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw.strip()):
        try:
            return dt.date.fromisoformat(raw.strip())
        except ValueError:
            pass
    errors.add(field, "Date must be a calendar date written YYYY-MM-DD.")
    return None


def parse_currency(raw: object, field: str, errors: Validation) -> str:
    if raw is None or raw is OMITTED:
        return "USD"
    if isinstance(raw, str) and _CURRENCY_PATTERN.match(raw.strip().upper()):
        return raw.strip().upper()
    errors.add(field, "Currency must be a three-letter ISO 4217 code such as USD.")
    return "USD"


def parse_idempotency_key(raw: object, field: str, errors: Validation) -> str | None:
    if raw is None or raw is OMITTED:
        return None
    if not isinstance(raw, str) or not raw.strip() or len(raw) > MAX_KEY_LENGTH:
        errors.add(field, f"Idempotency key must be 1 to {MAX_KEY_LENGTH} characters.")
        return None
    return raw
