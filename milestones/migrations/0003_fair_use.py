"""Fair use: emails that keep failing for a permanent reason are parked (`failed_at`); the
outbox finds when an address was last emailed (`claimed_at`, for coalescing) through an index,
and the pruning job the old sent and parked ones through partial indexes."""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0002_one_funded_one_pending")]

    operations = [
        ops.AddField(
            model_name="EmailOutbox",
            name="failed_at",
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name="EmailOutbox",
            name="claimed_at",
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.RunSQL(
            [
                "CREATE INDEX idx_email_outbox_to_address_claimed_at "
                "ON email_outbox (to_address, claimed_at)",
                "CREATE INDEX idx_email_outbox_sent_at ON email_outbox (sent_at) "
                "WHERE sent_at IS NOT NULL",
                "CREATE INDEX idx_email_outbox_failed_at ON email_outbox (failed_at) "
                "WHERE failed_at IS NOT NULL",
            ],
            reverse_sql=[
                "DROP INDEX idx_email_outbox_to_address_claimed_at",
                "DROP INDEX idx_email_outbox_sent_at",
                "DROP INDEX idx_email_outbox_failed_at",
            ],
        ),
    ]
