"""History that tells the truth: the money each event moved (on the event and on its
notifications), and deleted milestones marked DELETED (those deleted before keep their
`deleted_at` and get the status now)."""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0010_submissions")]

    operations = [
        ops.AddField(
            model_name="ContractEvent", name="amount", field=fields.BigIntField(null=True)
        ),
        ops.AddField(model_name="Notification", name="amount", field=fields.BigIntField(null=True)),
        ops.RunSQL(
            ["UPDATE milestones SET status = 'DELETED' WHERE deleted_at IS NOT NULL"],
            reverse_sql=["UPDATE milestones SET status = 'UPCOMING' WHERE deleted_at IS NOT NULL"],
        ),
    ]
