"""Submissions: what the freelancer sent with each `submitMilestone` (message, outcome) and
its files, stored in the database in chunks."""

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

from milestones.models.enums import SubmissionOutcome


class Migration(migrations.Migration):
    dependencies = [("models", "0009_reminders")]

    initial = False

    operations = [
        ops.CreateModel(
            name="Submission",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "contract",
                    fields.ForeignKeyField(
                        "models.Contract",
                        source_field="contract_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="submissions",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "milestone",
                    fields.ForeignKeyField(
                        "models.Milestone",
                        source_field="milestone_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="submissions",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "submitted_by",
                    fields.ForeignKeyField(
                        "models.User",
                        source_field="submitted_by_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="submissions",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                ("message", fields.TextField(null=True, unique=False)),
                (
                    "outcome",
                    fields.CharEnumField(
                        default=SubmissionOutcome.PENDING,
                        enum_type=SubmissionOutcome,
                        max_length=16,
                    ),
                ),
                ("response_message", fields.TextField(null=True, unique=False)),
                ("submitted_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                (
                    "responded_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
            ],
            options={
                "table": "submissions",
                "app": "models",
                "indexes": [Index(fields=["milestone_id", "id"])],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Attachment",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "submission",
                    fields.ForeignKeyField(
                        "models.Submission",
                        source_field="submission_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="attachments",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("position", fields.IntField()),
                ("filename", fields.CharField(max_length=255)),
                ("content_type", fields.CharField(max_length=255)),
                ("size", fields.BigIntField()),
                ("sha256", fields.CharField(max_length=64)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "attachments",
                "app": "models",
                "indexes": [Index(fields=["submission_id", "position"])],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="AttachmentChunk",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                (
                    "attachment",
                    fields.ForeignKeyField(
                        "models.Attachment",
                        source_field="attachment_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="chunks",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("seq", fields.IntField()),
                ("data", fields.BinaryField()),
            ],
            options={
                "table": "attachment_chunks",
                "app": "models",
                "unique_together": (("attachment_id", "seq"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
    ]
