"""A person's email settings: email on or off, and the kinds they do not want emailed.

They govern email only: in-app and live notifications (and webhooks, which have their own
kinds) are never muted. The rule is `email_items.wants_email`, asked when an email is written
to the outbox and again when it is sent, so a change reaches emails already waiting.
Turning email off also works without signing in, from the signed link in every email
(`milestones/web/unsubscribe.py`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from milestones.domain.commands import UpdateNotificationSettings
from milestones.domain.email_items import muted_kinds, stored_muted_kinds
from milestones.domain.errors import DomainError
from milestones.domain.idempotency import idempotent
from milestones.domain.transaction import action
from milestones.domain.values import Omitted
from milestones.models import User
from milestones.models.enums import EventKind


@dataclass(frozen=True, slots=True)
class NotificationSettings:
    email_enabled: bool
    muted_email_kinds: tuple[EventKind, ...]  # sorted

    def to_json(self) -> dict[str, object]:
        return {"emailEnabled": self.email_enabled, "muted": list(self.muted_email_kinds)}


def _settings(email_enabled: bool, muted: str | None) -> NotificationSettings:
    known = {kind.value for kind in EventKind}
    return NotificationSettings(
        email_enabled=bool(email_enabled),
        # A kind no longer in the enum (after a rename) is not shown.
        muted_email_kinds=tuple(EventKind(kind) for kind in sorted(muted_kinds(muted) & known)),
    )


async def notification_settings(user_pk: int) -> NotificationSettings:
    """Read from the row (not the viewer object of the request, which may be older)."""
    row = await User.filter(id=user_pk).first().values_list("email_enabled", "muted_email_kinds")
    enabled, muted = row if isinstance(row, tuple) else (True, "")
    return _settings(enabled, muted)


async def update_notification_settings(
    viewer: User, command: UpdateNotificationSettings
) -> NotificationSettings:
    async with action(), idempotent(viewer, command, contract_locked=False) as keyed:
        if keyed.replayed is not None:
            return NotificationSettings(
                email_enabled=bool(keyed.replayed["emailEnabled"]),
                muted_email_kinds=tuple(EventKind(kind) for kind in keyed.replayed["muted"]),
            )
        if command.problems:
            raise DomainError(*command.problems)
        changes: dict[str, object] = {}
        if not isinstance(command.email_enabled, Omitted):
            changes["email_enabled"] = command.email_enabled
        if not isinstance(command.muted_email_kinds, Omitted):
            changes["muted_email_kinds"] = stored_muted_kinds(command.muted_email_kinds)
        if changes:
            # updated_at too: a cached contract room that shows the viewer is a version older.
            await User.filter(id=viewer.id).update(**changes, updated_at=dt.datetime.now(dt.UTC))
        settings = await notification_settings(viewer.id)
        if keyed.wanted:
            keyed.keep(settings.to_json())
    return settings
