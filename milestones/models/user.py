from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class User(Model):
    id = fields.IntField(primary_key=True)
    sub = fields.CharField(max_length=255, unique=True)
    name = fields.CharField(max_length=200, null=True)
    email = fields.CharField(max_length=320, null=True)
    # From the token's `roles` claim on every sight: mediators decide escalated disputes.
    is_mediator = fields.BooleanField(default=False, db_default=False)
    # `email` compared the way invitations are (milestones.domain.emails.email_key).
    email_key = fields.CharField(max_length=320, null=True, db_index=True)
    # Last notification sequence number handed out to this user (notification cursors).
    notification_seq = fields.BigIntField(default=0)
    # Email only (in-app and live notifications are never muted): off altogether, or off for
    # some kinds (comma-separated EventKind values).
    email_enabled = fields.BooleanField(default=True, db_default=True)
    muted_email_kinds = fields.TextField(default="", db_default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "users"
