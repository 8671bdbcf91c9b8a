"""Fair use: emails that keep failing for a permanent reason are parked (`failed_at`), and the
outbox finds the last email sent to an address (for coalescing) through an index."""

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
        ops.RunSQL(
            [
                "CREATE INDEX idx_email_outbox_to_address_sent_at "
                "ON email_outbox (to_address, sent_at)",
            ],
            reverse_sql=["DROP INDEX idx_email_outbox_to_address_sent_at"],
        ),
    ]
