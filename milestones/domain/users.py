"""Users come from token claims: created on first sight, kept up to date after."""

from __future__ import annotations

from tortoise.exceptions import IntegrityError

from milestones.auth import Claims
from milestones.domain.teams import claim_memberships
from milestones.models import User


async def user_from_claims(claims: Claims) -> User:
    user = await User.get_or_none(sub=claims.sub)
    if user is None:
        try:
            user = await User.create(sub=claims.sub, name=claims.name, email=claims.email)
        except IntegrityError:  # created by a concurrent first request
            user = await User.get(sub=claims.sub)
        else:
            await claim_memberships(user)  # invitations by email wait for the first sign-in
            return user
    changed = [
        name
        for name, value in (("name", claims.name), ("email", claims.email))
        if value is not None and getattr(user, name) != value
    ]
    if changed:
        for name in changed:
            setattr(user, name, getattr(claims, name))
        await user.save(update_fields=[*changed, "updated_at"])
        if "email" in changed:
            await claim_memberships(user)
    return user
