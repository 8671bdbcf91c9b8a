"""The viewer's notifications: marking them read."""

from __future__ import annotations

import datetime as dt

from milestones.domain.commands import MarkNotificationsRead
from milestones.domain.errors import DomainError, ErrorCode, Problem
from milestones.domain.idempotency import idempotent
from milestones.domain.transaction import action
from milestones.models import Notification, User

MAX_IDS = 100


async def mark_notifications_read(viewer: User, command: MarkNotificationsRead) -> int:
    """How many of the viewer's notifications went from unread to read."""
    async with action(), idempotent(viewer, command, contract_locked=False) as keyed:
        if keyed.replayed is not None:
            count: int = keyed.replayed["count"]
            return count
        if command.problems:
            raise DomainError(*command.problems)
        count = await _mark(viewer, command)
        if keyed.wanted:
            keyed.keep({"count": count})
    return count


async def _mark(viewer: User, command: MarkNotificationsRead) -> int:
    now = dt.datetime.now(dt.UTC)
    if command.all:
        return await Notification.filter(recipient_id=viewer.id, read_at=None).update(read_at=now)
    mine = {
        notification.id
        for notification in await Notification.filter(
            recipient_id=viewer.id, id__in=[pk for pk in command.ids if pk is not None]
        ).only("id")
    }
    # Someone else's notification is answered as not found, never as forbidden.
    missing = [
        Problem(ErrorCode.NOT_FOUND, "No notification of yours has this ID.", f"ids.{index}")
        for index, pk in enumerate(command.ids)
        if pk not in mine
    ]
    if missing:
        raise DomainError(*missing)
    return await Notification.filter(
        recipient_id=viewer.id, id__in=list(mine), read_at=None
    ).update(read_at=now)
