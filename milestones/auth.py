"""Identity: HS256 bearer tokens and the users they name."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

import jwt

from milestones.caches import ByteBoundedLRU


class Unauthenticated(Exception):
    """No token, or a token that does not verify."""


MEDIATOR_ROLE = "mediator"


@dataclass(frozen=True, slots=True)
class Claims:
    sub: str
    name: str | None
    email: str | None
    # The token's `roles` claim (strings only); "mediator" makes the user a mediator.
    roles: tuple[str, ...] = ()

    @property
    def is_mediator(self) -> bool:
        return MEDIATOR_ROLE in self.roles


@dataclass(slots=True)
class KnownUser:
    """What this instance last made of a token's user: the identity columns of its row
    (`milestones.domain.users.user_for` fills it), and when (`time.monotonic()`). Trusted for
    `refresh_seconds` (0: never), then read and brought up to date again."""

    refresh_seconds: float = 0.0
    row: dict[str, object] | None = None
    at: float = 0.0


@dataclass(frozen=True, slots=True)
class Verified:
    """A valid token's claims and when it stops being valid (None: never)."""

    claims: Claims
    expires_at: float | None
    user: KnownUser = field(default_factory=KnownUser, compare=False, repr=False)

    def expired(self, now: float | None = None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or time.time())


# Control characters have no place in a name, and NUL is refused by PostgreSQL's text type.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
DEFAULT_TOKEN_CACHE_BYTES = 4 * 1024 * 1024


def issue_token(
    secret: str,
    sub: str,
    *,
    name: str | None = None,
    email: str | None = None,
    expires_in: int = 3600,
    roles: tuple[str, ...] = (),
) -> str:
    payload: dict[str, object] = {"sub": sub, "iat": int(time.time())}
    if roles:
        payload["roles"] = list(roles)
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


def authorization_in_connection_params(params: object) -> str | None:
    """The `Authorization` value of a graphql-transport-ws `connection_init` payload, as
    clients write it: `authorization` or `Authorization` at the top, or inside a `headers`
    object (any case there, as HTTP header names are)."""
    if not isinstance(params, dict):
        return None
    for key in ("authorization", "Authorization"):
        value = params.get(key)
        if isinstance(value, str):
            return value
    headers = params.get("headers")
    if isinstance(headers, dict):
        for key, value in headers.items():
            if isinstance(key, str) and key.lower() == "authorization" and isinstance(value, str):
                return value
    return None


class TokenVerifier:
    """Verifies tokens; a token seen before is not verified again until it expires: SPAs send
    the same token with every request, and HMAC plus JSON decoding is a fair share of a cached
    room's cost. Only valid tokens are remembered, within a byte budget. A remembered token also
    remembers its user's identity for `user_refresh_seconds` (`KnownUser`)."""

    def __init__(
        self,
        secret: str,
        *,
        require_exp: bool = False,
        cache_bytes: int = DEFAULT_TOKEN_CACHE_BYTES,
        user_refresh_seconds: float = 0.0,
    ) -> None:
        self.secret = secret
        self.require_exp = require_exp
        self.user_refresh_seconds = user_refresh_seconds
        self._verified: ByteBoundedLRU[str, Verified] = ByteBoundedLRU(cache_bytes)

    def verify(self, token: str) -> Verified:
        verified = self._verified.get(token)
        if verified is None:
            verified = self._decode(token)
            # The token twice (key, claims), the user's identity row, the objects around them.
            self._verified.put(token, verified, 2 * len(token) + 1024)
        if verified.expired():
            raise Unauthenticated("Token expired")
        return verified

    def _decode(self, token: str) -> Verified:
        required = ["sub", "exp"] if self.require_exp else ["sub"]
        try:
            payload = jwt.decode(
                token, self.secret, algorithms=["HS256"], options={"require": required}
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthenticated("Token expired") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise Unauthenticated(f"Token has no {exc.claim!r} claim") from exc
        except jwt.PyJWTError as exc:
            raise Unauthenticated("Invalid token") from exc
        sub = payload.get("sub")
        if (
            not isinstance(sub, str)
            or not sub.strip()
            or len(sub) > 255
            or _CONTROL.search(sub) is not None
        ):
            raise Unauthenticated("Invalid token subject")
        exp = payload.get("exp")
        claims = Claims(
            sub=sub,
            name=_optional_text(payload.get("name"), 200),
            email=_optional_text(payload.get("email"), 320),
            roles=_roles(payload.get("roles")),
        )
        return Verified(
            claims,
            float(exp) if isinstance(exp, int | float) else None,
            KnownUser(self.user_refresh_seconds),
        )


def _optional_text(value: object, limit: int) -> str | None:
    """A profile claim as stored: text without control characters, else absent."""
    if not isinstance(value, str) or _CONTROL.search(value) is not None:
        return None
    return value[:limit]


def _roles(value: object) -> tuple[str, ...]:
    """The `roles` claim: a list of strings (a lone string counts as one role)."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return ()
    return tuple(sorted({role for role in value if isinstance(role, str) and len(role) <= 100}))
