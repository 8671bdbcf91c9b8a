"""Counts GraphQL operations by name and outcome, times them, and hands the operation name to
the request's log line: `observe`, called by the lean pipeline (`schema/pipeline.py`) and by
``OperationObserver``, the strawberry extension (pass the class) for streamed operations.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from milestones.observability.logs import Outcome, current_request_log, operation_logger
from milestones.observability.metrics import GRAPHQL_DURATION, GRAPHQL_OPERATIONS

# Operation names are chosen by callers: past this many distinct names, the rest share "other"
# so that a misbehaving client cannot grow the metrics without bound.
MAX_OPERATION_NAMES = 300
MAX_OPERATION_NAME_LENGTH = 80
_operation_names: set[str] = set()


def _operation_label(name: str | None) -> str:
    if not name:
        return "anonymous"
    name = name[:MAX_OPERATION_NAME_LENGTH]
    if name in _operation_names:
        return name
    if len(_operation_names) >= MAX_OPERATION_NAMES:
        return "other"
    _operation_names.add(name)
    return name


def _error_outcome(errors: list[GraphQLError]) -> Outcome:
    """Errors a client caused (bad query, no token, not found) versus failures of ours."""
    for error in errors:
        original = error.original_error
        code = (error.extensions or {}).get("code")
        if code == "INTERNAL_SERVER_ERROR":
            return "error"
        if original is not None and not code and not isinstance(original, GraphQLError):
            return "error"
    return "user_error"


def _data_outcome(data: Any) -> Outcome:
    if isinstance(data, dict):
        for value in data.values():
            if isinstance(value, dict) and value.get("userErrors"):
                return "user_error"
    return "ok"


def operation_outcome(errors: list[GraphQLError] | None, data: Any) -> Outcome:
    return _error_outcome(errors) if errors else _data_outcome(data)


def observe(
    operation_type: str,
    operation_name: str | None,
    errors: list[GraphQLError],
    data: Any,
    duration: float,
) -> None:
    """Counts and times one operation that ended (`errors`: before execution, else of its
    result), and names it on the request's log line."""
    outcome = operation_outcome(errors, data)
    name = _operation_label(operation_name)
    GRAPHQL_OPERATIONS.labels(operation=name, type=operation_type, outcome=outcome).inc()
    if operation_type != "subscription":  # a subscription lasts as long as it is wanted
        GRAPHQL_DURATION.labels(operation=name, type=operation_type).observe(duration)
    log = current_request_log.get()
    if log is not None:
        log.add_operation(name, outcome)
        if log.kind == "websocket":
            operation_logger.info(
                "%s %s %s",
                operation_type,
                name,
                outcome,
                extra={
                    "fields": {
                        "operation": name,
                        "type": operation_type,
                        "outcome": outcome,
                        "duration_ms": round(duration * 1000, 2),
                    }
                },
            )


class OperationObserver(SchemaExtension):
    """Counts and times each GraphQL operation; pass the class, not an instance."""

    async def on_operation(self) -> AsyncIterator[None]:
        started = time.perf_counter()
        yield
        context = self.execution_context
        try:
            operation_type = context.operation_type.value
        except Exception:  # no document: it did not parse
            operation_type = "unknown"
        result = context.result
        errors = list(context.pre_execution_errors or []) or (
            list(result.errors or []) if result is not None else []
        )
        data = result.data if result is not None else None
        observe(operation_type, context.operation_name, errors, data, time.perf_counter() - started)
