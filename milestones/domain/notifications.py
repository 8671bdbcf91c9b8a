"""The viewer's notifications: marking them read."""

from __future__ import annotations

import datetime as dt

from milestones.domain.errors import DomainError, ErrorCode, Problem, Validation
from milestones.ids import decode
from milestones.models import Notification, User

MAX_IDS = 100


async def mark_notifications_read(viewer: User, ids: list[object] | None, all_: bool) -> int:
    """How many of the viewer's notifications went from unread to read."""
    now = dt.datetime.now(dt.UTC)
    if all_:
        return await Notification.filter(recipient_id=viewer.id, read_at=None).update(read_at=now)
    errors = Validation()
    if not ids:
        errors.add("ids", "Give the notification ids to mark read, or all: true.")
    elif len(ids) > MAX_IDS:
        errors.add("ids", f"At most {MAX_IDS} ids at once.")
    errors.raise_if_any()
    assert ids is not None
    pks = [decode(raw, "Notification") for raw in ids]
    mine = {
        notification.id
        for notification in await Notification.filter(
            recipient_id=viewer.id, id__in=[pk for pk in pks if pk is not None]
        ).only("id")
    }
    # Someone else's notification is answered as not found, never as forbidden.
    missing = [
        Problem(ErrorCode.NOT_FOUND, "No notification of yours has this ID.", f"ids.{index}")
        for index, pk in enumerate(pks)
        if pk not in mine
    ]
    if missing:
        raise DomainError(*missing)
    return await Notification.filter(
        recipient_id=viewer.id, id__in=list(mine), read_at=None
    ).update(read_at=now)
