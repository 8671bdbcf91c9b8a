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


@strawberry.type(description="Where a page sits in its list (Relay cursor connections).")
class PageInfo:
    has_next_page: bool = strawberry.field(
        description="More items follow: ask again with `after: endCursor`."
    )
    has_previous_page: bool = strawberry.field(
        description="This page was asked for with `after` (items come before it)."
    )
    start_cursor: str | None = strawberry.field(
        description="The first edge's cursor; null on an empty page."
    )
    end_cursor: str | None = strawberry.field(
        description="The last edge's cursor: pass it as `after` for the next page; null on an "
        "empty page."
    )


@strawberry.type(description="One item of a list, with its place in the list.")
class Edge(Generic[T]):
    cursor: str = strawberry.field(
        description="The item's place in the list: pass it as `after` to get the items after it."
    )
    node: T = strawberry.field(description="The item.")


@strawberry.type(
    description="A page of a list (a Relay cursor connection): `first` items after the "
    "`after` cursor."
)
class Connection(Generic[T]):
    edges: list[Edge[T]] = strawberry.field(description="The page's items, in the list's order.")
    page_info: PageInfo = strawberry.field(description="Whether more items follow, and cursors.")


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
