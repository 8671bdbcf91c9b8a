"""Teams (agencies, client companies): who is in them, in which role, and who may change that.

A member is named by an email address, compared normalised (trimmed, lower case): they are
matched to the user whose token carries that email now, or at that user's first sign-in.
OWNERs and ADMINs manage the members, but only an OWNER makes, changes or removes an OWNER; a
team always keeps at least one OWNER. Removing someone
ends their access to the team's contracts at once: their next request, and (through the
`access:<user>` wake-up) their open subscriptions on those rooms.
"""

from __future__ import annotations

import datetime as dt

from milestones.domain.commands import (
    AddTeamMember,
    ChangeTeamMemberRole,
    CreateTeam,
    RemoveTeamMember,
)
from milestones.domain.emails import email_key
from milestones.domain.errors import DomainError, ErrorCode, Problem, not_found, refuse
from milestones.domain.idempotency import idempotent
from milestones.domain.transaction import Action, action
from milestones.models import Team, TeamMember, User
from milestones.models.enums import TeamRole

MANAGING_ROLES = (TeamRole.OWNER, TeamRole.ADMIN)


def access_channel(user_id: int) -> str:
    """Rung when the user's access to contracts shrank: open rooms check it again."""
    return f"access:{user_id}"


async def create_team(viewer: User, command: CreateTeam) -> Team:
    """A new team; the viewer is its first OWNER."""
    async with action(), idempotent(viewer, command, contract_locked=False) as keyed:
        if keyed.replayed is not None:
            return await _replayed(keyed.replayed)
        if command.problems:
            raise DomainError(*command.problems)
        team = await Team.create(name=command.name)
        await TeamMember.create(
            team_id=team.id,
            user_id=viewer.id,
            email=email_key(viewer.email),
            role=TeamRole.OWNER,
        )
        if keyed.wanted:
            keyed.keep({"team": team.id})
    return team


async def _replayed(kept: dict[str, object]) -> Team:
    """The team the first request answered (as it is now: a team has no room to freeze)."""
    team = await Team.get_or_none(id=kept["team"])
    if team is None:
        raise not_found("Team", "team_id")
    return team


async def _managed_team(viewer: User, team_pk: int | None) -> tuple[Team, TeamRole]:
    """The team, locked, and the viewer's role in it, if they manage it: NOT_FOUND for anyone
    not in it, FORBIDDEN for a MEMBER."""
    team = await Team.select_for_update().get_or_none(id=team_pk) if team_pk else None
    mine = (
        await TeamMember.get_or_none(team_id=team.id, user_id=viewer.id)
        if team is not None
        else None
    )
    if team is None or mine is None:
        raise not_found("Team", "team_id")
    if mine.role not in MANAGING_ROLES:
        raise refuse(ErrorCode.FORBIDDEN, "Only the team's owners and admins can manage it.")
    return team, mine.role


def _owners_only(viewer_role: TeamRole, *roles: TeamRole, field: str) -> None:
    """Only an OWNER makes, changes or removes an OWNER: an ADMIN cannot take the team over
    (or lock its owners out) by granting or taking the role."""
    if viewer_role is not TeamRole.OWNER and TeamRole.OWNER in roles:
        raise refuse(
            ErrorCode.FORBIDDEN,
            "Only the team's owners can make, change or remove an owner.",
            field,
        )


async def acting_team(viewer: User, team_pk: int | None, field: str) -> int | None:
    """A team the viewer makes a party to a contract: NOT_FOUND unless they are in it,
    FORBIDDEN unless they are one of its OWNERs or ADMINs. None when no team is named."""
    if team_pk is None:
        return None
    mine = await TeamMember.get_or_none(team_id=team_pk, user_id=viewer.id)
    if mine is None:
        raise not_found("Team", field)
    if mine.role not in MANAGING_ROLES:
        raise refuse(
            ErrorCode.FORBIDDEN,
            "Only the team's owners and admins can make it a party to a contract.",
            field,
        )
    return team_pk


async def _member(team: Team, email: str) -> TeamMember:
    member = await TeamMember.get_or_none(team_id=team.id, email=email)
    if member is None:
        raise refuse(ErrorCode.NOT_FOUND, "No member of this team has this email.", "email")
    return member


async def _last_owner_problem(team: Team, member: TeamMember, doing: str) -> Problem | None:
    """A team keeps at least one OWNER."""
    if member.role is not TeamRole.OWNER:
        return None
    if await TeamMember.filter(team_id=team.id, role=TeamRole.OWNER).count() > 1:
        return None
    return Problem(
        ErrorCode.VALIDATION, f"A team keeps at least one owner: you cannot {doing}.", "email"
    )


async def _touch(team: Team) -> None:
    """A change of members is a change of every room of the team (cached rooms' version)."""
    await team.save(update_fields=["updated_at"])


async def add_team_member(viewer: User, command: AddTeamMember) -> Team:
    async with action():
        team, viewer_role = await _managed_team(viewer, command.team_id)
        async with idempotent(viewer, command, contract_locked=False) as keyed:
            if keyed.replayed is not None:
                return team
            if command.problems:
                raise DomainError(*command.problems)
            _owners_only(viewer_role, command.role, field="role")
            if await TeamMember.exists(team_id=team.id, email=command.email):
                raise refuse(ErrorCode.VALIDATION, "This email is already a member.", "email")
            await TeamMember.create(
                team_id=team.id,
                user_id=await _user_with_email(command.email),
                email=command.email,
                role=command.role,
            )
            await _touch(team)
            if keyed.wanted:
                keyed.keep({"team": team.id})
    return team


async def change_team_member_role(viewer: User, command: ChangeTeamMemberRole) -> Team:
    async with action():
        team, viewer_role = await _managed_team(viewer, command.team_id)
        async with idempotent(viewer, command, contract_locked=False) as keyed:
            if keyed.replayed is not None:
                return team
            if command.problems:
                raise DomainError(*command.problems)
            member = await _member(team, command.email)
            _owners_only(viewer_role, member.role, command.role, field="role")
            if command.role is not TeamRole.OWNER:
                last_owner = await _last_owner_problem(team, member, "demote the last owner")
                if last_owner is not None:
                    raise DomainError(last_owner)
            if member.role is not command.role:
                member.role = command.role
                await member.save(update_fields=["role"])
                await _touch(team)
            if keyed.wanted:
                keyed.keep({"team": team.id})
    return team


async def remove_team_member(viewer: User, command: RemoveTeamMember) -> Team:
    async with action() as transaction:
        team, viewer_role = await _managed_team(viewer, command.team_id)
        async with idempotent(viewer, command, contract_locked=False) as keyed:
            if keyed.replayed is not None:
                return team
            if command.problems:
                raise DomainError(*command.problems)
            member = await _member(team, command.email)
            _owners_only(viewer_role, member.role, field="email")
            last_owner = await _last_owner_problem(team, member, "remove the last owner")
            if last_owner is not None:
                raise DomainError(last_owner)
            await member.delete()
            await _touch(team)
            if member.user_id is not None:
                _ended_access(transaction, member.user_id)
            if keyed.wanted:
                keyed.keep({"team": team.id})
    return team


def _ended_access(transaction: Action, user_id: int) -> None:
    transaction.wake(access_channel(user_id), 0)


async def _user_with_email(email: str) -> int | None:
    """The user whose token carried this email (the first to sign in with it), if any."""
    found = await User.filter(email_key=email).order_by("id").first()
    return found.id if found is not None else None


async def claim_memberships(user: User) -> None:
    """At sign-in (a new user, or a new email claim): the memberships waiting for this email."""
    email = user.email_key
    if email is None:
        return
    waiting = TeamMember.filter(email=email, user_id=None)
    teams = await waiting.values_list("team_id", flat=True)
    if teams:
        await waiting.update(user_id=user.id)
        await Team.filter(id__in=list(teams)).update(updated_at=_now())


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def teams_of(user_id: int) -> list[Team]:
    """The user's teams, oldest membership first."""
    memberships = await TeamMember.filter(user_id=user_id).order_by("id")
    order = [member.team_id for member in memberships]
    found = {team.id: team for team in await Team.filter(id__in=order)}
    return [found[pk] for pk in order if pk in found]
