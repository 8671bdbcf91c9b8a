"""Identity: HS256 bearer tokens and the users they name."""

from __future__ import annotations

import time
from dataclasses import dataclass

import jwt


class Unauthenticated(Exception):
    """No token, or a token that does not verify."""


@dataclass(frozen=True, slots=True)
class Claims:
    sub: str
    name: str | None
    email: str | None


def issue_token(
    secret: str,
    sub: str,
    *,
    name: str | None = None,
    email: str | None = None,
    expires_in: int = 3600,
) -> str:
    payload: dict[str, object] = {"sub": sub, "iat": int(time.time())}
    payload["exp"] = int(time.time()) + expires_in
    if name is not None:
        payload["name"] = name
    if email is not None:
        payload["email"] = email
    return jwt.encode(payload, secret, algorithm="HS256")


def parse_authorization(value: str | None) -> str:
    """The token of an `Authorization: Bearer <JWT>` value."""
    if not value:
        raise Unauthenticated("Missing Authorization header")
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("Authorization must be 'Bearer <token>'")
    return token.strip()


def verify_token(secret: str, token: str) -> Claims:
    try:
        payload = jwt.decode(token, secret, algorithms=["HS256"], options={"require": ["sub"]})
    except jwt.ExpiredSignatureError as exc:
        raise Unauthenticated("Token expired") from exc
    except jwt.PyJWTError as exc:
        raise Unauthenticated("Invalid token") from exc
    sub = payload.get("sub")
    if not isinstance(sub, str) or not sub.strip() or len(sub) > 255:
        raise Unauthenticated("Invalid token subject")
    name = payload.get("name")
    email = payload.get("email")
    return Claims(
        sub=sub,
        name=name[:200] if isinstance(name, str) else None,
        email=email[:320] if isinstance(email, str) else None,
    )
