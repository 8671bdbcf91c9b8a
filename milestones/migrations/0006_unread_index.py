"""A recipient's unread notifications, indexed: the unread count (asked with every
notification list) and the `unreadOnly` list read only the unread rows, newest first.

Written by hand: a partial index, which both SQLite and PostgreSQL accept in this form.
"""

from tortoise import migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0005_domain")]

    operations = [
        ops.RunSQL(
            [
                "CREATE INDEX idx_notifications_unread_by_recipient "
                "ON notifications (recipient_id, seq) WHERE read_at IS NULL",
            ],
            reverse_sql=["DROP INDEX idx_notifications_unread_by_recipient"],
        )
    ]
