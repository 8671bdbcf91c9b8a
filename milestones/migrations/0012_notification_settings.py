"""Email settings per user (email on or off, kinds muted) and what each outbox email tells,
kept with the row so that it is rendered, with its links, when it is sent."""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0011_history")]

    operations = [
        ops.AddField(
            model_name="User",
            name="email_enabled",
            field=fields.BooleanField(default=True, db_default=True),
        ),
        ops.AddField(
            model_name="User",
            name="muted_email_kinds",
            field=fields.TextField(default="", db_default=""),
        ),
        ops.AddField(model_name="EmailOutbox", name="details", field=fields.JSONField(null=True)),
    ]
