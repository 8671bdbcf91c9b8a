"""The root lists a viewer pages through: their contracts and their notifications."""

from __future__ import annotations

from milestones import ids
from milestones.domain.access import access_in, memberships_of, visible_contracts
from milestones.models import Contract as ContractModel
from milestones.models import Notification as NotificationModel
from milestones.models import User as UserModel
from milestones.models.enums import ContractStatus
from milestones.schema.relay import Connection, after_position, connection, page_size
from milestones.schema.types import Contract, Notification, NotificationConnection


async def contracts_page(
    viewer: UserModel, first: int | None, after: str | None, status: ContractStatus | None
) -> Connection[Contract]:
    size = page_size(first)
    before_id = after_position(after, "contract")
    memberships = await memberships_of(viewer.id)
    query = ContractModel.filter(visible_contracts(viewer.id, list(memberships)))
    if status is not None:
        query = query.filter(status=status)
    if before_id is not None:
        query = query.filter(id__lt=before_id)
    rows = await query.order_by("-id").limit(size + 1)
    return connection(
        rows,
        size,
        after,
        lambda row: Contract.of(row, viewer.id, access_in(viewer.id, row, memberships)),
        lambda row: ids.encode_cursor("contract", row.id),
    )


async def notifications_page(
    viewer: UserModel, first: int | None, after: str | None, unread_only: bool
) -> NotificationConnection:
    size = page_size(first)
    before_seq = after_position(after, "notification")
    query = NotificationModel.filter(recipient_id=viewer.id)
    if unread_only:
        query = query.filter(read_at=None)
    if before_seq is not None:
        query = query.filter(seq__lt=before_seq)
    rows = await query.order_by("-seq").limit(size + 1)
    page = connection(
        rows, size, after, Notification.of, lambda row: ids.encode_cursor("notification", row.seq)
    )
    return NotificationConnection(
        edges=page.edges, page_info=page.page_info, recipient_pk=viewer.id
    )
