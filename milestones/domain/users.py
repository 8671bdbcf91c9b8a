"""Users come from token claims: created on first sight, kept up to date after.

A token seen again on the same instance within `user_refresh_seconds` names the user it named
before without a read (`user_for`): every request and every socket starts with its viewer, and
that read was one statement in five of an activate or approve. What is remembered is what the
token decides (id, subject, name, email, mediator role), never what other requests change
(notification sequence, email settings): those columns are absent from such a viewer, so
reading them off it fails loudly instead of returning an old value.

Seeing an email claim for the first time (a new user, or a changed address) is also when
offers made to that address find their person: the first user whose token carries it becomes
the offer's freelancer party and gets the CONTRACT_OFFERED notification then.
"""

from __future__ import annotations

import time

from tortoise import connections
from tortoise.exceptions import IntegrityError

from milestones.auth import Claims, Verified
from milestones.domain import events
from milestones.domain.emails import email_key
from milestones.domain.teams import claim_memberships
from milestones.domain.transaction import action
from milestones.models import Contract, ContractEvent, User
from milestones.models.enums import ContractStatus, EventKind

# The columns the token decides, and the only ones a viewer carries (see the module's text).
IDENTITY = ("id", "sub", "name", "email", "email_key", "is_mediator")


async def user_for(verified: Verified) -> User:
    """The verified token's user, created or brought up to date from its claims, read at most
    once per `refresh_seconds` for this token on this instance. Its claims cannot change, so
    in that window the row can only differ where another token of the same subject (with other
    claims) wrote since; after it, the claims are written again, as on every read."""
    known = verified.user
    now = time.monotonic()
    row = known.row
    if row is None or now - known.at >= known.refresh_seconds:
        user = await user_from_claims(verified.claims)
        row = {name: getattr(user, name) for name in IDENTITY}
        if known.refresh_seconds > 0:
            known.row, known.at = row, now
    return User._init_from_db(**row)


async def user_from_claims(claims: Claims) -> User:
    key = email_key(claims.email)
    user = await _by_sub(claims.sub)
    if user is None:
        try:
            user = await User.create(
                sub=claims.sub,
                name=claims.name,
                email=claims.email,
                email_key=key,
                is_mediator=claims.is_mediator,
            )
        except IntegrityError:  # created by a concurrent first request
            user = await User.get(sub=claims.sub)
        else:
            await match_invitations(user)
            await claim_memberships(user)  # team invitations by email too
            return user
    changed = [
        name
        for name, value in (("name", claims.name), ("email", claims.email))
        if value is not None and getattr(user, name) != value
    ]
    if user.is_mediator != claims.is_mediator:  # the token says, every time
        changed.append("is_mediator")
    if changed or (key is not None and user.email_key != key):
        for name in changed:
            setattr(user, name, getattr(claims, name))
        fields = [*changed, "updated_at"]
        if key is not None and user.email_key != key:
            user.email_key = key
            fields.append("email_key")
        await user.save(update_fields=fields)
        if "email_key" in fields:
            await match_invitations(user)
            await claim_memberships(user)  # team invitations by email too
    return user


async def _by_sub(sub: str) -> User | None:
    """One row by its unique index, read without the ORM's query building: every request and
    every socket starts here (the query builder cost more than the read)."""
    connection = connections.get("default")
    mark = "$1" if connection.capabilities.dialect == "postgres" else "?"
    rows = await connection.execute_query_dict(_BY_SUB_SQL.format(mark=mark), [sub])
    return User._init_from_db(**rows[0]) if rows else None


_BY_SUB_SQL = f'SELECT * FROM "{User._meta.db_table}" WHERE sub = {{mark}}'


async def match_invitations(user: User) -> None:
    """Offers sent to the user's email that nobody has matched yet become theirs."""
    if user.email_key is None:
        return
    waiting = (
        await Contract.filter(
            invited_email=user.email_key, freelancer_id=None, status=ContractStatus.OFFERED
        )
        .exclude(client_id=user.id)
        .values_list("id", flat=True)
    )
    for contract_pk in waiting:
        async with action() as transaction:
            # Only if still waiting: a concurrent sign-in or withdrawal may have come first.
            matched = await Contract.filter(
                id=contract_pk,
                invited_email=user.email_key,
                freelancer_id=None,
                status=ContractStatus.OFFERED,
            ).update(freelancer_id=user.id)
            if not matched:
                continue
            offered = await ContractEvent.filter(
                contract_id=contract_pk, kind=EventKind.CONTRACT_OFFERED
            ).first()
            if offered is not None:
                await events.notify_late(transaction, offered, user.id)
