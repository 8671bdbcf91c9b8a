"""Relay connections: `first` (default 20, at most 100), an opaque `after` cursor, and the
`Connection`/`Edge`/`PageInfo` types every list of the schema answers with.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

import strawberry
from graphql import GraphQLError

from milestones import ids

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100

N = TypeVar("N")
R = TypeVar("R")
T = TypeVar("T")


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


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo


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
