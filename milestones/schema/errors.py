"""What a client may read of an error: its own mistakes in full, our failures masked.

An *unexpected* error is one of ours (a bug, a database outage): it is logged once, with the
request id, and answered with `extensions.code` `INTERNAL_SERVER_ERROR` and that request id;
in production its message becomes "Unexpected error." Errors the API means a client to read
(they carry a code, or come from parsing and validating the document) pass through, minus
graphql-core's "Did you mean …?" hints in production, which would spell out the schema.
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError
from graphql.error import GraphQLSyntaxError
from strawberry.extensions import SchemaExtension

from milestones.schema.limits import parser_limit_error

logger = logging.getLogger("milestones.errors")

INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"
SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
MASKED_MESSAGE = "Unexpected error."
UNAVAILABLE_MESSAGE = "A service this request needs is unavailable; try again shortly."
_SUGGESTION = re.compile(r" ?Did you mean [^?]*\?")


class ServiceUnavailable(GraphQLError):
    """A dependency stayed down longer than we wait for it (a stream's database reads)."""

    def __init__(self) -> None:
        super().__init__(UNAVAILABLE_MESSAGE, extensions={"code": SERVICE_UNAVAILABLE})


class AccessEnded(GraphQLError):
    """A stream's viewer may no longer see what it streams (removed from the team that is a
    party): it ends with an `error`, as an outsider's subscription is refused."""

    def __init__(self, what: str = "Contract") -> None:
        super().__init__(f"{what} not found.", extensions={"code": "NOT_FOUND"})


def internal_error(request_id: str | None) -> GraphQLError:
    """What a client reads of a failure of ours that has no GraphQL error of its own."""
    extensions: dict[str, Any] = {"code": INTERNAL_SERVER_ERROR}
    if request_id is not None:
        extensions["requestId"] = request_id
    return GraphQLError(MASKED_MESSAGE, extensions=extensions)


def is_unexpected(error: GraphQLError) -> bool:
    """Raised by our code rather than refused on purpose (refusals raise GraphQLError)."""
    original = error.original_error
    if original is None or isinstance(original, GraphQLError):
        return False
    # A scalar refusing a variable's value points at the document: the client's mistake.
    return error.path is not None or not error.nodes


def request_id_of(context: Any) -> str | None:
    request_id = getattr(context, "request_id", None)
    return request_id if isinstance(request_id, str) else None


# An exception's message may quote what a client sent (a driver echoing a value): the log
# keeps its start only, never a client's value whole.
MAX_LOGGED_MESSAGE = 300


def clipped(text: str, limit: int = MAX_LOGGED_MESSAGE) -> str:
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


def clipped_traceback(error: BaseException) -> str:
    """The stack of `error` and of its causes, each message clipped."""
    lines: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        frames = "".join(traceback.format_tb(current.__traceback__))
        lines.append(f"{frames}{type(current).__qualname__}: {clipped(str(current))}")
        current = current.__cause__ or current.__context__
    return "\n-- caused by --\n".join(reversed(lines))


def log_unexpected(errors: list[GraphQLError], context: Any) -> None:
    """One log record per unexpected error, with its request id and (clipped) traceback."""
    request_id = request_id_of(context)
    for error in errors:
        if is_unexpected(error):
            original = error.original_error
            assert original is not None
            logger.error(
                "unexpected error (request id %s) at %s: %s\n%s",
                request_id,
                ".".join(str(part) for part in error.path or ()) or "-",
                clipped(error.message),
                clipped_traceback(original),
            )


def without_suggestions(message: str) -> str:
    return _SUGGESTION.sub("", message)


class ErrorPolicy(SchemaExtension):
    """Codes unexpected errors; in production also masks them and drops suggestions.

    One policy for every transport: an HTTP result is presented when the operation ends; each
    result a stream yields (WebSocket queries, mutations and every subscription event) as it
    leaves."""

    def __init__(self, *, production: bool) -> None:
        self.production = production
        self.streamed = False

    def on_operation(self) -> Iterator[None]:
        yield
        if not self.streamed:
            self.present(self.execution_context.result)

    def on_stream_result(self, result: Any) -> Iterator[None]:
        self.streamed = True
        self.present(result)
        yield

    def present(self, result: Any) -> None:
        errors = getattr(result, "errors", None)
        if result is None or not errors:
            return
        result.errors = presented(
            errors, request_id_of(self.execution_context.context), production=self.production
        )


def presented(
    errors: list[GraphQLError], request_id: str | None, *, production: bool
) -> list[GraphQLError]:
    """`errors` as a client may read them (see the module's docstring)."""
    return [_presented(error, request_id, production) for error in errors]


def _presented(error: GraphQLError, request_id: str | None, production: bool) -> GraphQLError:
    refused = parser_limit_error(error) if isinstance(error, GraphQLSyntaxError) else None
    if refused is not None:
        return refused
    if is_unexpected(error):
        extensions: dict[str, Any] = {"code": INTERNAL_SERVER_ERROR}
        if request_id is not None:
            extensions["requestId"] = request_id
        return GraphQLError(
            MASKED_MESSAGE if production else error.message,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            original_error=None if production else error.original_error,
            extensions=extensions,
        )
    if production and "Did you mean" in error.message:
        return GraphQLError(
            without_suggestions(error.message),
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            original_error=error.original_error,
            extensions=error.extensions,
        )
    return error
