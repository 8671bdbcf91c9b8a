"""Relay connections: `first` (default 20, at most 100) and an opaque `after` cursor."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from graphql import GraphQLError

from milestones import ids
from milestones.models import ChangeRequest as ChangeRequestModel
from milestones.models import Contract as ContractModel
from milestones.models import ContractEvent as ContractEventModel
from milestones.models import Notification as NotificationModel
from milestones.models import User as UserModel
from milestones.models.enums import ContractStatus
from milestones.schema.types import (
    ChangeRequest,
    Connection,
    Contract,
    ContractEvent,
    Edge,
    Notification,
    NotificationConnection,
    PageInfo,
)

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100

N = TypeVar("N")
R = TypeVar("R")


def validation_error(message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": "VALIDATION"})


def page_size(first: int | None) -> int:
    if first is None:
        return DEFAULT_PAGE_SIZE
    if first < 0 or first > MAX_PAGE_SIZE:
        raise validation_error(f"`first` must be between 0 and {MAX_PAGE_SIZE}, got {first}.")
    return first


def after_position(after: str | None, prefix: str) -> int | None:
    if after is None:
        return None
    position = ids.decode_cursor(after, prefix)
    if position is None:
        raise validation_error("`after` is not a cursor of this list.")
    return position


def connection(
    rows: Sequence[R],
    size: int,
    after: str | None,
    node: Callable[[R], N],
    cursor: Callable[[R], str],
) -> Connection[N]:
    """`rows` holds up to size + 1 rows: the extra one only tells that there is a next page."""
    page = rows[:size]
    edges = [Edge(cursor=cursor(row), node=node(row)) for row in page]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=len(rows) > size,
            has_previous_page=after is not None,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
    )


async def contracts_page(
    viewer: UserModel, first: int | None, after: str | None, status: ContractStatus | None
) -> Connection[Contract]:
    size = page_size(first)
    before_id = after_position(after, "contract")
    from tortoise.expressions import Q

    query = ContractModel.filter(Q(client_id=viewer.id) | Q(freelancer_id=viewer.id))
    if status is not None:
        query = query.filter(status=status)
    if before_id is not None:
        query = query.filter(id__lt=before_id)
    rows = await query.order_by("-id").limit(size + 1)
    return connection(
        rows,
        size,
        after,
        lambda row: Contract.of(row, viewer.id),
        lambda row: ids.encode_cursor("contract", row.id),
    )


async def change_requests_page(
    contract_pk: int, first: int | None, after: str | None
) -> Connection[ChangeRequest]:
    size = page_size(first)
    before_id = after_position(after, "changeRequest")
    query = ChangeRequestModel.filter(contract_id=contract_pk)
    if before_id is not None:
        query = query.filter(id__lt=before_id)
    rows = await query.order_by("-id").limit(size + 1)
    return connection(
        rows, size, after, ChangeRequest.of, lambda row: ids.encode_cursor("changeRequest", row.id)
    )


async def events_page(
    contract_pk: int, first: int | None, after: str | None
) -> Connection[ContractEvent]:
    size = page_size(first)
    after_seq = after_position(after, "event")
    query = ContractEventModel.filter(contract_id=contract_pk)
    if after_seq is not None:
        query = query.filter(seq__gt=after_seq)
    rows = await query.order_by("seq").limit(size + 1)
    return connection(
        rows, size, after, ContractEvent.of, lambda row: ids.encode_cursor("event", row.seq)
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
