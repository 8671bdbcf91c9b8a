"""A notification's event, contract and actor without foreign-key checks (PostgreSQL).

The statement that notifies writes the event and its notifications together: each
notification's event id comes from the event's INSERT ... RETURNING, and its contract and
actor are the event's own, whose keys the event row checks. Checking them again costs a
lookup per notification and key: about 6 us a row, 0.9 ms of the fifty rows a team side
gets. The recipient keeps its key. The invariant checker (`milestones check-invariants`)
verifies that each notification's event, contract and actor exist and agree
(`docs/DESIGN.md`, "Foreign keys on notifications").

SQLite keeps the checks: it cannot drop a constraint without rebuilding the table, and
rebuilding it would drop it first, deleting the email and webhook rows that point at it.
"""

from typing import Any

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.migrations import operations as ops

# (column, referenced table, ON DELETE) as 0001 and 0015 made them.
_KEYS = (
    ("actor_id", "users", "RESTRICT"),
    ("contract_id", "contracts", "CASCADE"),
    ("event_id", "contract_events", "CASCADE"),
)


def _postgres(schema_editor: Any) -> bool:
    return bool(schema_editor.client.capabilities.dialect == "postgres")


async def _drop(apps: Any, schema_editor: Any) -> None:
    if _postgres(schema_editor):
        for column, _, _ in _KEYS:
            await schema_editor.client.execute_script(
                'ALTER TABLE "notifications" '
                f'DROP CONSTRAINT IF EXISTS "notifications_{column}_fkey"'
            )


async def _restore(apps: Any, schema_editor: Any) -> None:
    if _postgres(schema_editor):
        for column, table, on_delete in _KEYS:
            await schema_editor.client.execute_script(
                f'ALTER TABLE "notifications" ADD CONSTRAINT "notifications_{column}_fkey" '
                f'FOREIGN KEY ("{column}") REFERENCES "{table}" ("id") ON DELETE {on_delete}'
            )


class _StateOnly(ops.AlterField):
    """The key without its constraint in the migration state; the database work is `_drop`'s."""

    async def database_forward(self, *args: Any, **kwargs: Any) -> None:
        return None

    async def database_backward(self, *args: Any, **kwargs: Any) -> None:
        return None


class Migration(migrations.Migration):
    dependencies = [("models", "0016_ledger_totals")]

    operations = [
        ops.RunPython(_drop, _restore),
        _StateOnly(
            model_name="Notification",
            name="actor",
            field=fields.ForeignKeyField(
                "models.User",
                source_field="actor_id",
                null=True,
                db_constraint=False,
                to_field="id",
                related_name="notifications_caused",
                on_delete=OnDelete.RESTRICT,
            ),
        ),
        _StateOnly(
            model_name="Notification",
            name="contract",
            field=fields.ForeignKeyField(
                "models.Contract",
                source_field="contract_id",
                db_constraint=False,
                to_field="id",
                related_name="notifications",
                on_delete=OnDelete.CASCADE,
            ),
        ),
        _StateOnly(
            model_name="Notification",
            name="event",
            field=fields.ForeignKeyField(
                "models.ContractEvent",
                source_field="event_id",
                null=True,
                db_constraint=False,
                to_field="id",
                related_name="notifications",
                on_delete=OnDelete.CASCADE,
            ),
        ),
    ]
