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

# (field, model, table, related name, nullable, ON DELETE) as 0001 and 0015 made them.
_KEYS = (
    ("actor", "models.User", "users", "notifications_caused", True, OnDelete.RESTRICT),
    ("contract", "models.Contract", "contracts", "notifications", False, OnDelete.CASCADE),
    ("event", "models.ContractEvent", "contract_events", "notifications", True, OnDelete.CASCADE),
)


def _postgres(schema_editor: Any) -> bool:
    return bool(schema_editor.client.capabilities.dialect == "postgres")


async def _drop(apps: Any, schema_editor: Any) -> None:
    if _postgres(schema_editor):
        for name, *_ in _KEYS:
            await schema_editor.client.execute_script(
                'ALTER TABLE "notifications" '
                f'DROP CONSTRAINT IF EXISTS "notifications_{name}_id_fkey"'
            )


async def _restore(apps: Any, schema_editor: Any) -> None:
    if _postgres(schema_editor):
        for name, _, table, _, _, on_delete in _KEYS:
            await schema_editor.client.execute_script(
                f'ALTER TABLE "notifications" ADD CONSTRAINT "notifications_{name}_id_fkey" '
                f'FOREIGN KEY ("{name}_id") REFERENCES "{table}" ("id") '
                f"ON DELETE {on_delete.value}"
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
        *(
            _StateOnly(
                model_name="Notification",
                name=name,
                field=fields.ForeignKeyField(  # type: ignore[call-overload]  # null from _KEYS
                    model,
                    source_field=f"{name}_id",
                    null=null,
                    db_constraint=False,
                    to_field="id",
                    related_name=related_name,
                    on_delete=on_delete,
                ),
            )
            for name, model, _, related_name, null, on_delete in _KEYS
        ),
    ]
