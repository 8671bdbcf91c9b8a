"""Teams (agencies, client companies) and their members; a contract's side may be a team."""

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

from milestones.models.enums import TeamRole


class Migration(migrations.Migration):
    dependencies = [("models", "0013_offers")]

    initial = False

    operations = [
        ops.CreateModel(
            name="Team",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("name", fields.CharField(max_length=200)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("updated_at", fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={"table": "teams", "app": "models", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="TeamMember",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "team",
                    fields.ForeignKeyField(
                        "models.Team",
                        source_field="team_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="members",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "user",
                    fields.ForeignKeyField(
                        "models.User",
                        source_field="user_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="memberships",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("email", fields.CharField(null=True, max_length=320)),
                (
                    "role",
                    fields.CharEnumField(
                        description="OWNER: OWNER\nADMIN: ADMIN\nMEMBER: MEMBER",
                        enum_type=TeamRole,
                        max_length=16,
                    ),
                ),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "team_members",
                "app": "models",
                "unique_together": (("team_id", "email"),),
                "indexes": [Index(fields=["user_id", "team_id"]), Index(fields=["email"])],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.AddField(
            model_name="Contract",
            name="client_team",
            field=fields.ForeignKeyField(
                "models.Team",
                source_field="client_team_id",
                null=True,
                db_constraint=True,
                to_field="id",
                related_name="contracts_as_client",
                on_delete=OnDelete.RESTRICT,
            ),
        ),
        ops.AddField(
            model_name="Contract",
            name="freelancer_team",
            field=fields.ForeignKeyField(
                "models.Team",
                source_field="freelancer_team_id",
                null=True,
                db_constraint=True,
                to_field="id",
                related_name="contracts_as_freelancer",
                on_delete=OnDelete.RESTRICT,
            ),
        ),
        ops.AddIndex(model_name="Contract", index=Index(fields=["client_team_id", "id"])),
        ops.AddIndex(model_name="Contract", index=Index(fields=["freelancer_team_id", "id"])),
    ]
