from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

from milestones.models.enums import TeamRole

if TYPE_CHECKING:
    from milestones.models.user import User


class Team(Model):
    # An agency or a client company: a party to contracts through its members.

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=200)
    created_at = fields.DatetimeField(auto_now_add=True)
    # Bumped by every change of its members: part of a cached room's version.
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "teams"


class TeamMember(Model):
    # A person in a team, named by email: `user` stays null until a token with that email
    # (normalised: trimmed, lower case) is seen.

    id = fields.IntField(primary_key=True)
    team: fields.ForeignKeyRelation[Team] = fields.ForeignKeyField(
        "models.Team", related_name="members", on_delete=fields.CASCADE
    )
    user: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="memberships", null=True, on_delete=fields.CASCADE
    )
    email = fields.CharField(max_length=320, null=True)
    role = fields.CharEnumField(TeamRole, max_length=16)
    created_at = fields.DatetimeField(auto_now_add=True)

    team_id: int
    user_id: int | None

    class Meta:
        table = "team_members"
        unique_together = (("team_id", "email"),)
        indexes = (("user_id", "team_id"), ("email",))
