"""The viewer's notifications: marking them read, and how many are unread.

Marking returns what it marked and the unread count after it, so that a client's cache can
follow without asking again. The unread count is served by the partial index of migration
0006 (recipient's unread rows only), so it costs the same whatever the history's length.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from milestones.domain.errors import DomainError, ErrorCode, Problem, Validation
from milestones.domain.transaction import action
from milestones.ids import decode
from milestones.models import Notification, User

MAX_IDS = 100


@dataclass(frozen=True, slots=True)
class MarkedRead:
    """The notifications this call turned from unread to read (newest first), and how many of
    the viewer's are still unread after it."""

    notifications: list[Notification]
    unread_count: int


async def unread_count(recipient_id: int) -> int:
    return await Notification.filter(recipient_id=recipient_id, read_at=None).count()


async def mark_notifications_read(viewer: User, ids: list[object] | None, all_: bool) -> MarkedRead:
    """Mark some of the viewer's notifications (by id) or all of them read."""
    chosen: list[int] | None = None
    if not all_:
        chosen = await _own_notification_ids(viewer, ids)
    now = dt.datetime.now(dt.UTC)
    # One transaction, rows locked: two concurrent calls never both report the same one.
    async with action():
        unread = Notification.filter(recipient_id=viewer.id, read_at=None)
        if chosen is not None:
            unread = unread.filter(id__in=chosen)
        marked = await unread.select_for_update().order_by("-seq")
        if marked:
            # By the same filter, not by ids: `all` may cover more rows than a statement may
            # have parameters. A recipient's seqs commit in order, so none newer slips in.
            await unread.filter(seq__lte=marked[0].seq).update(read_at=now)
        for row in marked:
            row.read_at = now
        return MarkedRead(notifications=marked, unread_count=await unread_count(viewer.id))


async def _own_notification_ids(viewer: User, ids: list[object] | None) -> list[int]:
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
    return list(mine)
