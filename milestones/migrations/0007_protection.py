"""Fixed-price protection: when a milestone was activated, submitted and released, its review
deadline, a refund request's answer-by time, and when each party is reminded; events and
notifications of automatic actions have no actor."""

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0006_unread_index")]

    operations = [
        ops.AlterField(
            model_name="ContractEvent",
            name="actor",
            field=fields.ForeignKeyField(
                "models.User",
                source_field="actor_id",
                db_constraint=True,
                to_field="id",
                related_name="events",
                null=True,
                on_delete=OnDelete.RESTRICT,
            ),
        ),
        ops.AlterField(
            model_name="Notification",
            name="actor",
            field=fields.ForeignKeyField(
                "models.User",
                source_field="actor_id",
                db_constraint=True,
                to_field="id",
                related_name="notifications_caused",
                null=True,
                on_delete=OnDelete.RESTRICT,
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
        ops.AddField(
            model_name="Milestone", name="activated_at", field=fields.DatetimeField(null=True)
        ),
        ops.AddField(
            model_name="Milestone", name="submitted_at", field=fields.DatetimeField(null=True)
        ),
        ops.AddField(
            model_name="Milestone", name="review_deadline", field=fields.DatetimeField(null=True)
        ),
        ops.AddField(
            model_name="Milestone", name="review_remind_at", field=fields.DatetimeField(null=True)
        ),
        ops.AddField(
            model_name="Milestone", name="released_at", field=fields.DatetimeField(null=True)
        ),
        ops.AddField(
            model_name="RefundRequest", name="respond_by", field=fields.DatetimeField(null=True)
        ),
        ops.AddField(
            model_name="RefundRequest", name="remind_at", field=fields.DatetimeField(null=True)
        ),
        # The scheduler's questions: what falls due next, what is due now.
        ops.AddIndex(model_name="Milestone", index=Index(fields=["review_deadline"])),
        ops.AddIndex(model_name="Milestone", index=Index(fields=["review_remind_at"])),
        ops.AddIndex(model_name="RefundRequest", index=Index(fields=["respond_by"])),
        ops.AddIndex(model_name="RefundRequest", index=Index(fields=["remind_at"])),
    ]
