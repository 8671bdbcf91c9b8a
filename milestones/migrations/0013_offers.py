"""Offers: a contract starts OFFERED and waits for the freelancer party's answer; an offer may
name its freelancer by email before they ever signed in (`invited_email`, matched against
`users.email_key`), so `freelancer_id` may be null. Existing contracts keep their status
(ACTIVE or ENDED) and their two people as parties.

Written by hand (the autodetector also proposes rewriting the enum columns' descriptions,
which would rebuild the event and notification tables on SQLite for nothing).
"""

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0007_protection")]

    operations = [
        ops.AlterField(
            model_name="Contract",
            name="freelancer",
            field=fields.ForeignKeyField(
                "models.User",
                source_field="freelancer_id",
                null=True,
                db_constraint=True,
                to_field="id",
                related_name="contracts_as_freelancer",
                on_delete=OnDelete.RESTRICT,
            ),
        ),
        ops.AddField(
            model_name="Contract",
            name="accepted_at",
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name="Contract",
            name="invited_email",
            field=fields.CharField(null=True, max_length=320),
        ),
        ops.AddIndex(model_name="Contract", index=Index(fields=["invited_email"])),
        ops.AddField(
            model_name="User",
            name="email_key",
            field=fields.CharField(null=True, db_index=True, max_length=320),
        ),
        # Existing contracts were agreed when they were made. Email keys of known users: the
        # next sign-in rewrites any that the SQL below normalises differently (non-ASCII).
        ops.RunSQL(
            [
                "UPDATE contracts SET accepted_at = created_at WHERE accepted_at IS NULL",
                "UPDATE users SET email_key = lower(trim(email)) "
                "WHERE email IS NOT NULL AND trim(email) <> ''",
            ],
            reverse_sql=[],
        ),
    ]
