"""Every ever-growing table gets a 64-bit key: events, notifications, ledger entries, the email
outbox, webhook deliveries and idempotency records (a marketplace with millions of users passes
2.1 billion notifications), and so do the columns that point at them.

Written by hand. PostgreSQL: the columns become BIGINT and their sequences `AS bigint` (a
`SERIAL` sequence stops at 2^31 - 1 even on a BIGINT column). SQLite: an `INTEGER PRIMARY KEY`
is already a 64-bit rowid, so only the migration state changes (no table rebuild, which would
also drop the hand-written indexes).
"""

from typing import Any

from tortoise import fields, migrations
from tortoise.migrations import operations as ops

# (table, key column) of each ever-growing table, and (table, column) of what points at one.
_KEYS = (
    "contract_events",
    "notifications",
    "ledger_entries",
    "email_outbox",
    "webhook_deliveries",
    "idempotency_records",
)
_POINTERS = (
    ("notifications", "event_id"),
    ("email_outbox", "notification_id"),
    ("webhook_deliveries", "notification_id"),
)


def _postgres(schema_editor: Any) -> bool:
    return bool(schema_editor.client.capabilities.dialect == "postgres")


def _statements(kind: str) -> list[str]:
    statements = []
    for table in _KEYS:
        statements.append(f'ALTER TABLE "{table}" ALTER COLUMN "id" TYPE {kind}')
        statements.append(f"ALTER SEQUENCE IF EXISTS {table}_id_seq AS {kind}")
    statements.extend(
        f'ALTER TABLE "{table}" ALTER COLUMN "{column}" TYPE {kind}' for table, column in _POINTERS
    )
    return statements


async def _widen(apps: Any, schema_editor: Any) -> None:
    if _postgres(schema_editor):
        for statement in _statements("BIGINT"):
            await schema_editor.client.execute_script(statement)


async def _narrow(apps: Any, schema_editor: Any) -> None:
    if _postgres(schema_editor):
        for statement in _statements("INTEGER"):
            await schema_editor.client.execute_script(statement)


class _StateOnly(ops.AlterField):
    """The key's new type in the migration state; the database work is `_widen`'s."""

    async def database_forward(self, *args: Any, **kwargs: Any) -> None:
        return None

    async def database_backward(self, *args: Any, **kwargs: Any) -> None:
        return None


class Migration(migrations.Migration):
    dependencies = [("models", "0014_teams")]

    operations = [
        ops.RunPython(_widen, _narrow),
        *(
            _StateOnly(model_name=model, name="id", field=fields.BigIntField(primary_key=True))
            for model in (
                "ContractEvent",
                "Notification",
                "LedgerEntry",
                "EmailOutbox",
                "WebhookDelivery",
                "IdempotencyRecord",
            )
        ),
    ]
