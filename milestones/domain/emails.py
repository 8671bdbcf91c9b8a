"""Email addresses compared the way people type them: an invitation by email matches a token
whose `email` claim is the same address up to case, surrounding spaces and Unicode form."""

from __future__ import annotations

import re
import unicodedata

MAX_EMAIL_LENGTH = 320
# One "@", something on each side, a dot in the domain, no spaces or angle brackets: what a
# person means by an address, not RFC 5322's every corner.
_SHAPE = re.compile(r"[^\s@<>,;\"]+@[^\s@<>,;\"]+\.[^\s@<>,;\".]+")


def email_key(raw: str | None) -> str | None:
    """The normalised form (NFKC, trimmed, lower case) two equal addresses share; None for none."""
    if raw is None:
        return None
    key = unicodedata.normalize("NFKC", raw).strip().lower()
    return key or None


def email_problem(raw: str) -> str | None:
    """Why `raw` is not an address an offer can be sent to, or None."""
    key = email_key(raw)
    if key is None:
        return "Give the freelancer's email address."
    if len(key) > MAX_EMAIL_LENGTH:
        return f"An email address has at most {MAX_EMAIL_LENGTH} characters."
    if not _SHAPE.fullmatch(key):
        return "This is not an email address (name@example.com)."
    return None
