"""Opaque global IDs (Relay style): base64 of "<Type>:<pk>"."""

from __future__ import annotations

import base64
import binascii


def encode(type_name: str, pk: int) -> str:
    return base64.b64encode(f"{type_name}:{pk}".encode()).decode("ascii")


def decode_any(global_id: object) -> tuple[str, int] | None:
    """(type name, pk), or None when the value is not one of our IDs."""
    if not isinstance(global_id, str) or len(global_id) > 200:
        return None
    try:
        raw = base64.b64decode(global_id.encode("ascii"), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        return None
    type_name, sep, pk = raw.partition(":")
    # ASCII digits only: int() would also read Arabic-Indic or full-width digits.
    if not sep or not pk.isascii() or not pk.isdigit() or len(pk) > 18:
        return None
    return type_name, int(pk)


def decode(global_id: object, type_name: str) -> int | None:
    decoded = decode_any(global_id)
    if decoded is None or decoded[0] != type_name:
        return None
    return decoded[1]


def encode_cursor(prefix: str, value: int) -> str:
    return base64.b64encode(f"{prefix}:{value}".encode()).decode("ascii")


def decode_cursor(cursor: object, prefix: str) -> int | None:
    decoded = decode_any(cursor)
    if decoded is None or decoded[0] != prefix:
        return None
    return decoded[1]
