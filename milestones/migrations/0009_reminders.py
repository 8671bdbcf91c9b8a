"""Deadline reminders: a notification that belongs to no room event (DEADLINE_REMINDER) names
its deadline and what it concerns itself."""

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0008_disputes")]

    operations = [
        ops.AlterField(
            model_name="Notification",
            name="event",
            field=fields.ForeignKeyField(
                "models.ContractEvent",
                source_field="event_id",
                db_constraint=True,
                to_field="id",
                related_name="notifications",
                null=True,
                on_delete=OnDelete.CASCADE,
            ),
        ),
        ops.AddField(
            model_name="Notification", name="deadline", field=fields.DatetimeField(null=True)
        ),
        ops.AddField(
            model_name="Notification",
            name="milestone",
            field=fields.ForeignKeyField(
                "models.Milestone",
                source_field="milestone_id",
                db_constraint=True,
                to_field="id",
                related_name="reminders",
                null=True,
                on_delete=OnDelete.SET_NULL,
            ),
        ),
        ops.AddField(
            model_name="Notification",
            name="refund_request",
            field=fields.ForeignKeyField(
                "models.RefundRequest",
                source_field="refund_request_id",
                db_constraint=True,
                to_field="id",
                related_name="reminders",
                null=True,
                on_delete=OnDelete.SET_NULL,
            ),
        ),
        ops.AddField(
            model_name="Notification",
            name="dispute",
            field=fields.ForeignKeyField(
                "models.Dispute",
                source_field="dispute_id",
                db_constraint=True,
                to_field="id",
                related_name="reminders",
                null=True,
                on_delete=OnDelete.SET_NULL,
            ),
        ),
        # SQLite alters a column by rebuilding the table, which drops the hand-written partial
        # index of 0006: made again (PostgreSQL alters in place and keeps it).
        ops.RunSQL(
            [
                "CREATE INDEX IF NOT EXISTS idx_notifications_unread_by_recipient "
                "ON notifications (recipient_id, seq) WHERE read_at IS NULL",
            ],
            reverse_sql=[],
        ),
    ]
