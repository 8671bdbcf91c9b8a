"""The ledger's running sums on the contract row (`Contract.ledger_*`), filled from the ledger
as it stands: from here on, the statement that appends entries changes them."""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops

_TOTALS = {
    "ledger_deposited": "DEPOSIT",
    "ledger_released": "RELEASE",
    "ledger_refunded": "REFUND",
    "ledger_bonus": "BONUS",
}


def _backfill() -> str:
    sums = ", ".join(
        f"{column} = COALESCE((SELECT SUM(amount) FROM ledger_entries"
        f" WHERE ledger_entries.contract_id = contracts.id AND kind = '{kind}'), 0)"
        for column, kind in _TOTALS.items()
    )
    return f"UPDATE contracts SET {sums}"


class Migration(migrations.Migration):
    dependencies = [("models", "0015_bigkeys")]

    operations = [
        *(
            ops.AddField(
                model_name="Contract",
                name=column,
                field=fields.BigIntField(default=0, db_default=0),
            )
            for column in _TOTALS
        ),
        ops.RunSQL([_backfill()], reverse_sql=[]),
    ]
