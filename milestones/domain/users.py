"""Users come from token claims: created on first sight, kept up to date after."""

from __future__ import annotations

from tortoise.exceptions import IntegrityError

from milestones.auth import Claims
from milestones.models import User


async def user_from_claims(claims: Claims) -> User:
    user = await User.get_or_none(sub=claims.sub)
    if user is None:
        try:
            return await User.create(
                sub=claims.sub,
                name=claims.name,
                email=claims.email,
                is_mediator=claims.is_mediator,
            )
        except IntegrityError:  # created by a concurrent first request
            user = await User.get(sub=claims.sub)
    changed = [
        name
        for name, value in (("name", claims.name), ("email", claims.email))
        if value is not None and getattr(user, name) != value
    ]
    if user.is_mediator != claims.is_mediator:  # the token says, every time
        changed.append("is_mediator")
    if changed:
        for name in changed:
            setattr(user, name, getattr(claims, name))
        await user.save(update_fields=[*changed, "updated_at"])
    return user
