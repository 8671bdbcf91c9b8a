from orjson import loads
from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

from milestones.models.enums import (
    ChangeKind,
    ChangeRequestStatus,
    ContractStatus,
    EventKind,
    LedgerKind,
    MilestoneStatus,
    RefundRequestStatus,
)


class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name="User",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("sub", fields.CharField(unique=True, max_length=255)),
                ("name", fields.CharField(null=True, max_length=200)),
                ("email", fields.CharField(null=True, max_length=320)),
                ("notification_seq", fields.BigIntField(default=0)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("updated_at", fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={"table": "users", "app": "models", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Contract",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("title", fields.CharField(max_length=200)),
                ("currency", fields.CharField(default="USD", max_length=3)),
                (
                    "status",
                    fields.CharEnumField(
                        default=ContractStatus.ACTIVE,
                        description="ACTIVE: ACTIVE\nENDED: ENDED",
                        enum_type=ContractStatus,
                        max_length=16,
                    ),
                ),
                (
                    "client",
                    fields.ForeignKeyField(
                        "models.User",
                        source_field="client_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="contracts_as_client",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                (
                    "freelancer",
                    fields.ForeignKeyField(
                        "models.User",
                        source_field="freelancer_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="contracts_as_freelancer",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                ("event_seq", fields.BigIntField(default=0)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("ended_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "contracts",
                "app": "models",
                "indexes": [
                    Index(fields=["client_id", "id"]),
                    Index(fields=["freelancer_id", "id"]),
                ],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="ChangeRequest",
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
                        related_name="change_requests",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "requested_by",
                    fields.ForeignKeyField(
                        "models.User",
                        source_field="requested_by_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="change_requests",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                (
                    "status",
                    fields.CharEnumField(
                        default=ChangeRequestStatus.PENDING,
                        description="PENDING: PENDING\nACCEPTED: ACCEPTED\nDECLINED: DECLINED\nWITHDRAWN: WITHDRAWN",
                        enum_type=ChangeRequestStatus,
                        max_length=16,
                    ),
                ),
                ("message", fields.TextField(null=True, unique=False)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                (
                    "responded_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                ("response_message", fields.TextField(null=True, unique=False)),
            ],
            options={
                "table": "change_requests",
                "app": "models",
                "indexes": [Index(fields=["contract_id", "id"])],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="IdempotencyRecord",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "user",
                    fields.ForeignKeyField(
                        "models.User",
                        source_field="user_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="idempotency_records",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("operation", fields.CharField(max_length=64)),
                ("key", fields.CharField(max_length=255)),
                ("request_hash", fields.CharField(max_length=64)),
                ("result", fields.JSONField(encoder=JSON_DUMPS, decoder=loads)),
                (
                    "created_at",
                    fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True),
                ),
            ],
            options={
                "table": "idempotency_records",
                "app": "models",
                "unique_together": (("user_id", "operation", "key"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Milestone",
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
                        related_name="milestones",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("position", fields.IntField()),
                ("title", fields.CharField(max_length=200)),
                ("description", fields.TextField(null=True, unique=False)),
                ("due_date", fields.DateField(null=True)),
                ("amount", fields.BigIntField()),
                (
                    "status",
                    fields.CharEnumField(
                        default=MilestoneStatus.UPCOMING,
                        description="UPCOMING: UPCOMING\nACTIVE: ACTIVE\nSUBMITTED: SUBMITTED\nRELEASED: RELEASED\nREFUNDED: REFUNDED",
                        enum_type=MilestoneStatus,
                        max_length=16,
                    ),
                ),
                ("version", fields.IntField(default=1)),
                ("deleted_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("updated_at", fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={
                "table": "milestones",
                "app": "models",
                "indexes": [Index(fields=["contract_id", "position"])],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="LedgerEntry",
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
                        related_name="ledger",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                (
                    "milestone",
                    fields.ForeignKeyField(
                        "models.Milestone",
                        source_field="milestone_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="ledger",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                (
                    "kind",
                    fields.CharEnumField(
                        description="DEPOSIT: DEPOSIT\nALLOCATE: ALLOCATE\nRELEASE: RELEASE\nREFUND: REFUND",
                        enum_type=LedgerKind,
                        max_length=16,
                    ),
                ),
                ("amount", fields.BigIntField()),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "ledger_entries",
                "app": "models",
                "indexes": [Index(fields=["contract_id", "milestone_id"])],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="MilestoneChange",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "change_request",
                    fields.ForeignKeyField(
                        "models.ChangeRequest",
                        source_field="change_request_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="changes",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("index", fields.IntField()),
                (
                    "kind",
                    fields.CharEnumField(
                        description="ADD: ADD\nEDIT: EDIT\nDELETE: DELETE",
                        enum_type=ChangeKind,
                        max_length=8,
                    ),
                ),
                (
                    "milestone",
                    fields.ForeignKeyField(
                        "models.Milestone",
                        source_field="milestone_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="changes",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                ("title", fields.CharField(null=True, max_length=200)),
                ("description", fields.TextField(null=True, unique=False)),
                ("due_date", fields.DateField(null=True)),
                ("amount", fields.BigIntField(null=True)),
                ("sets_description", fields.BooleanField(default=False)),
                ("sets_due_date", fields.BooleanField(default=False)),
            ],
            options={"table": "milestone_changes", "app": "models", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="RefundRequest",
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
                        related_name="refund_requests",
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
                        related_name="refund_requests",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "requested_by",
                    fields.ForeignKeyField(
                        "models.User",
                        source_field="requested_by_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="refund_requests",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                (
                    "status",
                    fields.CharEnumField(
                        default=RefundRequestStatus.PENDING,
                        description="PENDING: PENDING\nACCEPTED: ACCEPTED\nDECLINED: DECLINED",
                        enum_type=RefundRequestStatus,
                        max_length=16,
                    ),
                ),
                ("amount", fields.BigIntField()),
                ("message", fields.TextField(null=True, unique=False)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                (
                    "responded_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                ("response_message", fields.TextField(null=True, unique=False)),
            ],
            options={
                "table": "refund_requests",
                "app": "models",
                "indexes": [Index(fields=["contract_id", "id"])],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="ContractEvent",
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
                        related_name="events",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("seq", fields.BigIntField()),
                (
                    "kind",
                    fields.CharEnumField(
                        description="CONTRACT_CREATED: CONTRACT_CREATED\nMILESTONE_ADDED: MILESTONE_ADDED\nMILESTONE_EDITED: MILESTONE_EDITED\nMILESTONE_DELETED: MILESTONE_DELETED\nMILESTONE_ACTIVATED: MILESTONE_ACTIVATED\nMILESTONE_SUBMITTED: MILESTONE_SUBMITTED\nSUBMISSION_REJECTED: SUBMISSION_REJECTED\nMILESTONE_APPROVED: MILESTONE_APPROVED\nREFUND_REQUESTED: REFUND_REQUESTED\nREFUND_ACCEPTED: REFUND_ACCEPTED\nREFUND_DECLINED: REFUND_DECLINED\nCHANGE_REQUEST_SUBMITTED: CHANGE_REQUEST_SUBMITTED\nCHANGE_REQUEST_ACCEPTED: CHANGE_REQUEST_ACCEPTED\nCHANGE_REQUEST_DECLINED: CHANGE_REQUEST_DECLINED\nCHANGE_REQUEST_WITHDRAWN: CHANGE_REQUEST_WITHDRAWN\nCONTRACT_ENDED: CONTRACT_ENDED",
                        enum_type=EventKind,
                        max_length=32,
                    ),
                ),
                (
                    "actor",
                    fields.ForeignKeyField(
                        "models.User",
                        source_field="actor_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="events",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                (
                    "milestone",
                    fields.ForeignKeyField(
                        "models.Milestone",
                        source_field="milestone_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="events",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                (
                    "change_request",
                    fields.ForeignKeyField(
                        "models.ChangeRequest",
                        source_field="change_request_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="events",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                (
                    "refund_request",
                    fields.ForeignKeyField(
                        "models.RefundRequest",
                        source_field="refund_request_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="events",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                ("occurred_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "contract_events",
                "app": "models",
                "unique_together": (("contract_id", "seq"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Notification",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "recipient",
                    fields.ForeignKeyField(
                        "models.User",
                        source_field="recipient_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="notifications",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("seq", fields.BigIntField()),
                (
                    "event",
                    fields.ForeignKeyField(
                        "models.ContractEvent",
                        source_field="event_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="notifications",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "kind",
                    fields.CharEnumField(
                        description="CONTRACT_CREATED: CONTRACT_CREATED\nMILESTONE_ADDED: MILESTONE_ADDED\nMILESTONE_EDITED: MILESTONE_EDITED\nMILESTONE_DELETED: MILESTONE_DELETED\nMILESTONE_ACTIVATED: MILESTONE_ACTIVATED\nMILESTONE_SUBMITTED: MILESTONE_SUBMITTED\nSUBMISSION_REJECTED: SUBMISSION_REJECTED\nMILESTONE_APPROVED: MILESTONE_APPROVED\nREFUND_REQUESTED: REFUND_REQUESTED\nREFUND_ACCEPTED: REFUND_ACCEPTED\nREFUND_DECLINED: REFUND_DECLINED\nCHANGE_REQUEST_SUBMITTED: CHANGE_REQUEST_SUBMITTED\nCHANGE_REQUEST_ACCEPTED: CHANGE_REQUEST_ACCEPTED\nCHANGE_REQUEST_DECLINED: CHANGE_REQUEST_DECLINED\nCHANGE_REQUEST_WITHDRAWN: CHANGE_REQUEST_WITHDRAWN\nCONTRACT_ENDED: CONTRACT_ENDED",
                        enum_type=EventKind,
                        max_length=32,
                    ),
                ),
                (
                    "contract",
                    fields.ForeignKeyField(
                        "models.Contract",
                        source_field="contract_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="notifications",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "actor",
                    fields.ForeignKeyField(
                        "models.User",
                        source_field="actor_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="notifications_caused",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                ("message", fields.TextField(unique=False)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("read_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "notifications",
                "app": "models",
                "unique_together": (("recipient_id", "seq"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="EmailOutbox",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "notification",
                    fields.ForeignKeyField(
                        "models.Notification",
                        source_field="notification_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="emails",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("to_address", fields.CharField(max_length=320)),
                ("subject", fields.CharField(max_length=300)),
                ("body", fields.TextField(unique=False)),
                ("attempts", fields.IntField(default=0)),
                (
                    "next_attempt_at",
                    fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False),
                ),
                ("sent_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("last_error", fields.TextField(null=True, unique=False)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={"table": "email_outbox", "app": "models", "pk_attr": "id"},
            bases=["Model"],
        ),
    ]
