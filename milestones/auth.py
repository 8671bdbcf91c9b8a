"""Identity: HS256 bearer tokens and the users they name."""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache

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
    """The claims of a valid token. A token seen before is not verified again until it expires:
    SPAs send the same token with every request, and HMAC plus JSON decoding is a fair share of
    a cached room's cost."""
    claims, expires_at = _verified(secret, token)
    if expires_at is not None and expires_at <= time.time():
        raise Unauthenticated("Token expired")
    return claims


@lru_cache(maxsize=4096)
def _verified(secret: str, token: str) -> tuple[Claims, float | None]:
    # Only valid tokens are remembered: an exception is not cached by lru_cache.
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
    exp = payload.get("exp")
    claims = Claims(
        sub=sub,
        name=name[:200] if isinstance(name, str) else None,
        email=email[:320] if isinstance(email, str) else None,
    )
    return claims, float(exp) if isinstance(exp, int | float) else None


def token_expires_at(secret: str, token: str) -> float | None:
    """When a token that `verify_token` accepted stops being valid (None: never)."""
    return _verified(secret, token)[1]
