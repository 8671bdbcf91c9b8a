"""Offers: a contract starts OFFERED and waits for the freelancer party's answer; an offer may
name its freelancer by email before they ever signed in (`invited_email`, matched against
`users.email_key`), so `freelancer_id` may be null. Existing contracts keep their status
(ACTIVE or ENDED) and their two people as parties.

Written by hand (the autodetector also proposes rewriting the enum columns' descriptions,
which would rebuild the event and notification tables on SQLite for nothing).
"""

from typing import Any

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

_NOT_NULL = '"freelancer_id" INT NOT NULL'
_NULL = '"freelancer_id" INT'


class FreelancerMayBeNull(ops.AlterField):
    """`contracts.freelancer_id` loses NOT NULL.

    PostgreSQL alters the column in place. SQLite cannot drop NOT NULL with ALTER TABLE, and
    the tool's way (copy the table, drop the old one, rename) fails on a database with data:
    dropping `contracts` deletes its rows first, which the ledger's RESTRICT keys refuse (and
    which would cascade to milestones and events). So on SQLite the constraint is removed from
    the stored schema text, the documented way for this one kind of change
    (https://sqlite.org/lang_altertable.html#otheralter): the rows' format does not change.
    """

    async def database_forward(
        self, app_label: str, old_state: Any, new_state: Any, state_editor: Any = None
    ) -> None:
        if state_editor is None:
            return
        client = state_editor.client
        if client.capabilities.dialect != "sqlite":
            await super().database_forward(app_label, old_state, new_state, state_editor)
            return
        _, rows = await client.execute_query("PRAGMA schema_version")
        version = int(rows[0][0])
        await client.execute_query("PRAGMA writable_schema = ON")
        await client.execute_query(
            f"UPDATE sqlite_master SET sql = replace(sql, '{_NOT_NULL}', '{_NULL}') "
            "WHERE type = 'table' AND name = 'contracts'"
        )
        await client.execute_query(f"PRAGMA schema_version = {version + 1}")
        await client.execute_query("PRAGMA writable_schema = OFF")
        _, columns = await client.execute_query("PRAGMA table_info(contracts)")
        if any(column[1] == "freelancer_id" and column[3] for column in columns):
            raise RuntimeError("contracts.freelancer_id is still NOT NULL")


class Migration(migrations.Migration):
    dependencies = [("models", "0012_notification_settings")]

    operations = [
        FreelancerMayBeNull(
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
        # Who an offer by email goes to is looked up by this key.
        ops.RunSQL(
            ['CREATE INDEX IF NOT EXISTS "idx_users_email_key" ON "users" ("email_key")'],
            reverse_sql=['DROP INDEX IF EXISTS "idx_users_email_key"'],
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
