"""The root lists a viewer pages through: their contracts and their notifications."""

from __future__ import annotations

from typing import Any

from tortoise import connections

from milestones import ids
from milestones.domain.access import access_in, memberships_of
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
    memberships = await memberships_of(viewer.id)
    rows = await _viewer_contracts(
        viewer, list(memberships), size + 1, after_position(after, "contract"), status
    )
    return connection(
        rows,
        size,
        after,
        lambda row: Contract.of(row, viewer.id, access_in(viewer.id, row, memberships)),
        lambda row: ids.encode_cursor("contract", row.id),
    )


def _listing_arms(viewer: UserModel, teams: list[int]) -> list[tuple[str, list[Any]]]:
    """The ways a contract is the viewer's (`access.visible_contracts`, arm by arm): each a
    condition on `contracts` (`{}` for each parameter) that an index serves in id order, with
    its parameters: a person party on a side that is no team, or a member of a team party."""
    arms: list[tuple[str, list[Any]]] = [
        ("client_id = {} AND client_team_id IS NULL", [viewer.id]),
        ("freelancer_id = {} AND freelancer_team_id IS NULL", [viewer.id]),
    ]
    if teams:
        marks = ", ".join("{}" for _ in teams)
        arms.append((f"client_team_id IN ({marks})", list(teams)))
        arms.append((f"freelancer_team_id IN ({marks})", list(teams)))
    return arms


async def _viewer_contracts(
    viewer: UserModel,
    teams: list[int],
    limit: int,
    before_id: int | None,
    status: ContractStatus | None,
) -> list[ContractModel]:
    """The viewer's newest `limit` contracts (ids below `before_id`), in one statement: per
    arm, the newest `limit` ids from its index ((client_id, id), (freelancer_id, id): an
    index-only scan backwards that stops there), then the rows of the newest `limit` of them.
    The cost follows the page, not the viewer's history, wherever their contracts lie in time.
    (`client_id = ? OR freelancer_id = ?` made PostgreSQL collect and sort every contract of
    the viewer, or walk the newest contracts of everyone: 4x slower for 5,000 contracts.)"""
    connection = connections.get("default")
    postgres = connection.capabilities.dialect == "postgres"
    params: list[Any] = []

    def placeholder(value: Any) -> str:
        params.append(value)
        return f"${len(params)}" if postgres else "?"

    arms = []
    for index, (condition, values) in enumerate(_listing_arms(viewer, teams)):
        where = [condition.format(*(placeholder(value) for value in values))]
        if status is not None:
            where.append(f"status = {placeholder(status.value)}")
        if before_id is not None:
            where.append(f"id < {placeholder(before_id)}")
        arms.append(
            f"SELECT id FROM (SELECT id FROM contracts WHERE {' AND '.join(where)} "
            f"ORDER BY id DESC LIMIT {placeholder(limit)}) AS arm{index}"
        )
    # A contract two arms reach is listed once: IN is a set.
    sql = (
        f"SELECT * FROM contracts WHERE id IN ({' UNION ALL '.join(arms)}) "
        f"ORDER BY id DESC LIMIT {placeholder(limit)}"
    )
    rows = await connection.execute_query_dict(sql, params)
    return [ContractModel._init_from_db(**row) for row in rows]


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
