"""The viewer's notifications: marking them read, and how many are unread.

Marking returns what it marked and the unread count after it, so that a client's cache can
follow without asking again. The unread count is served by the partial index of migration
0006 (recipient's unread rows only), so it costs the same whatever the history's length.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import cast

from milestones.domain.commands import MarkNotificationsRead
from milestones.domain.errors import DomainError, ErrorCode, Problem
from milestones.domain.idempotency import idempotent
from milestones.domain.transaction import action
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


async def mark_notifications_read(viewer: User, command: MarkNotificationsRead) -> MarkedRead:
    """Mark some of the viewer's notifications (by id) or all of them read."""
    async with action(), idempotent(viewer, command, contract_locked=False) as keyed:
        if keyed.replayed is not None:
            # The first payload again: the same notifications (read ever since) and count.
            return MarkedRead(
                await _marked_before(viewer, keyed.replayed), int(keyed.replayed.get("unread", 0))
            )
        if command.problems:
            raise DomainError(*command.problems)
        marked = await _mark(viewer, command)
        if keyed.wanted:
            # What this call marked, in a few bytes however many rows `all` covered: they are
            # the viewer's rows it stamped, all with its one `read_at`, none newer than its
            # newest (a row is stamped once: only unread rows are marked).
            newest = marked.notifications[0] if marked.notifications else None
            keyed.keep(
                {
                    "count": len(marked.notifications),
                    "read_at": newest.read_at.isoformat() if newest and newest.read_at else None,
                    "through": newest.seq if newest else None,
                    "unread": marked.unread_count,
                }
            )
    return marked


async def _marked_before(viewer: User, kept: dict[str, object]) -> list[Notification]:
    """The notifications a first call marked, as they are now (newest first)."""
    if "ids" in kept:  # kept before keys stored a range (until those keys expire)
        ids = cast(list[int], kept["ids"])
        return list(await Notification.filter(id__in=ids).order_by("-seq")) if ids else []
    read_at, through = kept.get("read_at"), kept.get("through")
    if not isinstance(read_at, str) or not isinstance(through, int):
        return []
    return list(
        await Notification.filter(
            recipient_id=viewer.id, read_at=dt.datetime.fromisoformat(read_at), seq__lte=through
        ).order_by("-seq")
    )


async def _mark(viewer: User, command: MarkNotificationsRead) -> MarkedRead:
    unread = Notification.filter(recipient_id=viewer.id, read_at=None)
    if not command.all:
        unread = unread.filter(id__in=await _own_notification_ids(viewer, command))
    # Rows locked inside the action: two concurrent calls never both report the same one.
    marked = await unread.select_for_update().order_by("-seq")
    now = dt.datetime.now(dt.UTC)
    if marked:
        # By the same filter, not by ids: `all` may cover more rows than a statement may have
        # parameters. A recipient's seqs commit in order, so none newer slips in.
        await unread.filter(seq__lte=marked[0].seq).update(read_at=now)
    for row in marked:
        row.read_at = now
    return MarkedRead(notifications=list(marked), unread_count=await unread_count(viewer.id))


async def _own_notification_ids(viewer: User, command: MarkNotificationsRead) -> list[int]:
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
    return list(mine)
