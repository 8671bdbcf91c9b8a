"""Who may see and act on what: parties only, and each party in its own role; mediators
see (read-only) the rooms whose disputes went to mediation, and decide those disputes.

`access_in` is the one rule of who is on a contract's sides (its people, or the members of its
teams) and whether they act for their side; every reader (the domain's locks and actions,
queries, subscriptions, the room cache) asks it, with the viewer's team memberships.
`access_of` adds the mediator: the room cache never serves a mediator (it caches parties only).

On the freelancer side of an offer, `Contract.freelancer_id` is the person the client named, or,
for an offer made by email, the first user whose token's email matched it (null until then:
nobody but the client sees such an offer); for an offer to a team, whoever of its OWNERs and
ADMINs accepted it (null until then).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, Protocol, TypeVar

from tortoise import connections
from tortoise.expressions import Q

from milestones.domain.errors import ErrorCode, Problem, not_found
from milestones.models import (
    ChangeRequest,
    Contract,
    Dispute,
    Milestone,
    RefundRequest,
    TeamMember,
    User,
)
from milestones.models.enums import TeamRole


class Role(StrEnum):
    CLIENT = "CLIENT"
    FREELANCER = "FREELANCER"
    # Not a party: sees a room whose dispute went to mediation, read-only; resolves disputes.
    MEDIATOR = "MEDIATOR"


K = TypeVar("K")

ACTING_TEAM_ROLES: Final = frozenset({TeamRole.OWNER, TeamRole.ADMIN})


@dataclass(frozen=True, slots=True)
class Access:
    """How a viewer stands in a contract: their side, and whether they act for it (a person
    party, or an OWNER or ADMIN of a team party) or only see it (a team MEMBER)."""

    role: Role
    acts: bool = True
    team_role: TeamRole | None = None  # on a team side: the viewer's role in that team


MEDIATING: Final = Access(Role.MEDIATOR, acts=False)


class Parties(Protocol):
    """Who the sides of a contract are (a `Contract` row, or what a cache read of one)."""

    @property
    def client_id(self) -> int: ...

    @property
    def freelancer_id(self) -> int | None: ...

    @property
    def client_team_id(self) -> int | None: ...

    @property
    def freelancer_team_id(self) -> int | None: ...


def role_among(who: K, client: K, freelancer: K | None) -> Role | None:
    """The role of `who` in a contract between `client` and `freelancer` (ids or subs; the
    freelancer is None while an offer by email waits for its person)."""
    if who is None:
        return None
    if who == client:
        return Role.CLIENT
    if freelancer is not None and who == freelancer:
        return Role.FREELANCER
    return None


def _side(
    role: Role,
    viewer_id: int,
    person_id: int | None,
    team_id: int | None,
    memberships: Mapping[int, str],
) -> Access | None:
    """The viewer on one side: a person party acts for it; on a team side, its OWNERs and
    ADMINs act and its MEMBERs see. A team side is its members only: the person who made or
    accepted the offer for the team is on it while they are a member."""
    if team_id is None:
        return Access(role) if person_id is not None and viewer_id == person_id else None
    team_role = memberships.get(team_id)
    if team_role is None:
        return None
    return Access(role, team_role in ACTING_TEAM_ROLES, TeamRole(team_role))


def access_in(viewer_id: int, contract: Parties, memberships: Mapping[int, str]) -> Access | None:
    """THE rule of who may see and act on a contract: its person parties, and the members of
    its team parties (`memberships`: the viewer's role by team id, at least for the contract's
    teams). None: not a party, the contract does not exist for them."""
    return _side(
        Role.CLIENT, viewer_id, contract.client_id, contract.client_team_id, memberships
    ) or _side(
        Role.FREELANCER,
        viewer_id,
        contract.freelancer_id,
        contract.freelancer_team_id,
        memberships,
    )


def team_ids(contract: Parties) -> list[int]:
    return [t for t in (contract.client_team_id, contract.freelancer_team_id) if t is not None]


async def memberships_of(user_id: int, teams: list[int] | None = None) -> dict[int, str]:
    """The user's role by team id (only in `teams`, when given)."""
    query = TeamMember.filter(user_id=user_id)
    if teams is not None:
        if not teams:
            return {}
        query = query.filter(team_id__in=teams)
    return {team: str(role) for team, role in await query.values_list("team_id", "role")}


_REMEMBERED = "_access_by_viewer"


def remembered_access(contract: Contract, viewer_id: int) -> tuple[bool, Access | None]:
    """(known, access): what `access_of` found for this viewer on this very row, if it ran
    (an action asks at its lock, its role check, its notifications and its payload)."""
    known: dict[int, Access | None] = contract.__dict__.get(_REMEMBERED, {})
    return (viewer_id in known, known.get(viewer_id))


async def access_of(viewer: User, contract: Contract) -> Access | None:
    """The viewer's access to `contract`: no query for a contract between two people, one
    for a contract with a team side (once per row read). A mediator who is not on a side
    watches the room, read-only, once a dispute of the contract went to mediation (every
    mediator sees every such room). None: the contract does not exist for them."""
    teams = team_ids(contract)
    if not teams:
        return standing(viewer, contract, {})
    known, access = remembered_access(contract, viewer.id)
    if not known:
        access = standing(viewer, contract, await memberships_of(viewer.id, teams))
        contract.__dict__.setdefault(_REMEMBERED, {})[viewer.id] = access
    return access


def standing(viewer: User, contract: Contract, memberships: Mapping[int, str]) -> Access | None:
    """`access_in`, and the mediator who watches a room a dispute took to mediation."""
    access = access_in(viewer.id, contract, memberships)
    if access is None and viewer.is_mediator and contract.mediated_at is not None:
        return MEDIATING
    return access


async def role_of(viewer: User, contract: Contract) -> Role | None:
    """The viewer's role in the contract (MEDIATOR for a mediator watching it), or None."""
    access = await access_of(viewer, contract)
    return access.role if access is not None else None


async def may_see(viewer: User, contract: Contract) -> bool:
    """A contract exists, for a viewer, only if they are on one of its sides (or mediate it)."""
    return await access_of(viewer, contract) is not None


def visible_contracts(viewer_id: int, teams: list[int]) -> Q:
    """The contracts `access_in` lets the viewer see, as a filter (`teams`: all theirs)."""
    mine = Q(client_team_id=None, client_id=viewer_id) | Q(
        freelancer_team_id=None, freelancer_id=viewer_id
    )
    if teams:
        mine = mine | Q(client_team_id__in=teams) | Q(freelancer_team_id__in=teams)
    return mine


def role_refusal(
    access: Access | Role | None, required: Role | None, doing: str, members: bool = False
) -> Problem | None:
    """FORBIDDEN unless a party of the `required` role (None: either party) acts, and, on a
    team side, one of its OWNERs or ADMINs (or any member, for an action `members` may take).
    A mediator only watches a room: every party action is FORBIDDEN to them, and only they
    resolve."""
    if isinstance(access, Access):
        role: Role | None = access.role
        if (
            role is not Role.MEDIATOR
            and (required is None or role is required)
            and not (access.acts or members)
        ):
            return Problem(ErrorCode.FORBIDDEN, f"Only the team's owners and admins can {doing}.")
    else:
        role = access
    if role is required or (required is None and role is not Role.MEDIATOR):
        return None
    names = {Role.CLIENT: "the client", Role.FREELANCER: "the freelancer"}
    who = "a party" if required is None else names.get(required, "a mediator")
    return Problem(ErrorCode.FORBIDDEN, f"Only {who} can {doing}.")


@dataclass(frozen=True, slots=True)
class Permit:
    """Who may take an action: a party of `role` (None: either party). One per action, read
    by the action itself and by the viewer's "could I?" flags."""

    role: Role | None
    doing: str  # the refusal's words: "Only the client can <doing>."
    members: bool = False  # a team side's MEMBERs may take it too (not only OWNERs and ADMINs)

    def refusal(self, access: Access | Role | None) -> Problem | None:
        return role_refusal(access, self.role, self.doing, self.members)


def shown_freelancer_id(contract: Contract) -> int | None:
    """`Contract.freelancer`: the person on the freelancer side, once they are known to the
    client: named by the client, or having accepted an offer made by email."""
    if contract.invited_email is not None and contract.accepted_at is None:
        return None
    return contract.freelancer_id


async def lock_contract(viewer: User, contract_pk: int | None, field: str) -> Contract:
    """The contract, locked for this transaction, if the viewer is a party to it."""
    if contract_pk is None:
        raise not_found("Contract", field)
    contract = await _locked(viewer, "{mark2}", [contract_pk])
    if contract is None or not await may_see(viewer, contract):
        raise not_found("Contract", field)
    return contract


Owned = TypeVar("Owned", Milestone, ChangeRequest, RefundRequest, Dispute)


async def lock_contract_owning(
    viewer: User, model: type[Owned], label: str, pk: int | None, field: str, *, live: bool
) -> Contract:
    """The contract of the object `pk` names (`live`: not deleted), locked, if the viewer may
    see it: one statement (the lock finds its row through the object; an object never changes
    contract). The object itself is read after it, under the lock: a concurrent action may
    have changed it."""
    if pk is None:
        raise not_found(label, field)
    alive = " AND deleted_at IS NULL" if live else ""
    owner = f"(SELECT contract_id FROM {model._meta.db_table} WHERE id = {{mark2}}{alive})"
    contract = await _locked(viewer, owner, [pk])
    if contract is None:
        raise not_found(label, field)
    if not await may_see(viewer, contract):
        raise not_found("Contract", field)
    return contract


# The contract row, and the viewer's role in each of its teams: an action's lock and its
# access check in one statement (`access_of` remembers the answer on the row).
_TEAM_ROLES_SQL = (
    "(SELECT role FROM {members} WHERE team_id = {c}.client_team_id AND user_id = {mark1}"
    " ORDER BY id LIMIT 1) AS viewer_client_team_role,"
    " (SELECT role FROM {members} WHERE team_id = {c}.freelancer_team_id AND user_id = {mark1}"
    " ORDER BY id LIMIT 1) AS viewer_freelancer_team_role"
)
_LOCK_SQL = "SELECT c.*, {team_roles} FROM {contracts} AS c WHERE c.id = {target}{lock}"
VIEWER_ROLES = ("viewer_client_team_role", "viewer_freelancer_team_role")


def team_roles_sql(contract: str, viewer_mark: str) -> str:
    """The viewer's role in each team side of the contract `contract` (a table alias) names,
    as two columns of a locking statement (`locked_contract` reads them)."""
    return _TEAM_ROLES_SQL.format(members=TeamMember._meta.db_table, c=contract, mark1=viewer_mark)


@functools.lru_cache(maxsize=64)
def _lock_sql(target: str, postgres: bool) -> str:
    """`_LOCK_SQL` for `target` (SQL from this code: a mark, or the object's contract)."""
    marks = {"mark1": "$1", "mark2": "$2"} if postgres else {"mark1": "?", "mark2": "?"}
    return _LOCK_SQL.format(
        team_roles=team_roles_sql("c", marks["mark1"]),
        contracts=Contract._meta.db_table,
        target=target.format(**marks),
        lock=" FOR UPDATE OF c" if postgres else "",
    )


async def _locked(viewer: User, target: str, parameters: list[object]) -> Contract | None:
    """The contract `target` (SQL with `{mark2}` for its parameter) names, locked for the
    transaction on PostgreSQL (SQLite's writers are serialised by `transaction.action`), with
    the viewer's access remembered on it."""
    connection = connections.get("default")
    postgres = connection.capabilities.dialect == "postgres"
    sql = _lock_sql(target, postgres)
    # SQLite numbers nothing: its marks take the values in order (the viewer twice).
    values = [viewer.id, *parameters] if postgres else [viewer.id, viewer.id, *parameters]
    rows = await connection.execute_query_dict(sql, values)
    if not rows:
        return None
    return locked_contract(viewer, dict(rows[0]))


def locked_contract(viewer: User, row: dict[str, Any]) -> Contract:
    """The contract of a locking statement's `row` (its columns, and `team_roles_sql`'s),
    with the viewer's access remembered on it."""
    client_role, freelancer_role = (row.pop(column) for column in VIEWER_ROLES)
    contract = Contract._init_from_db(**row)
    memberships = {
        team: str(role)
        for team, role in (
            (contract.client_team_id, client_role),
            (contract.freelancer_team_id, freelancer_role),
        )
        if team is not None and role is not None
    }
    contract.__dict__[_REMEMBERED] = {viewer.id: standing(viewer, contract, memberships)}
    return contract
