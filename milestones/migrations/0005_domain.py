"""Every message a mutation takes is kept: the note of its event and of its notification."""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0004_webhooks")]

    operations = [
        ops.AddField(model_name="ContractEvent", name="note", field=fields.TextField(null=True)),
        ops.AddField(model_name="Notification", name="note", field=fields.TextField(null=True)),
    ]
