"""One query or mutation from its text to its result, in one frame: the lean path of
`MilestonesSchema.execute` (HTTP and SSE queries and mutations).

Strawberry runs every operation through its extension machinery: per request it builds each
extension, inspects its hooks, wraps them in context managers and a middleware manager. For the
operations here, that machinery cost more than graphql-core's execution of them (a mutation's
GraphQL layer measured 2.5-3x graphql-core alone; `bench/` "Where the mutation time goes"). The
steps are the same as the extensions', in strawberry's order, each done by the function the
extension itself calls, so a rule still lives in one place:

1. the document, through the one gate (`Documents`; MissingQueryError without one);
2. the operation type (CannotGetOperationTypeError, InvalidOperationTypeError raised, as
   strawberry raises them);
3. validation with the schema's rules (`Documents.validate`, cached for signed-in callers);
4. the rate limits (`rate_limiting.refusal_of`), before anything runs;
5. execution (graphql-core, the schema's execution context class);
6. our own failures logged (`errors.log_unexpected`, as `MilestonesSchema.process_errors`),
   then the operation counted and timed (`operations.observe`), then every error presented
   (`errors.presented`).

Streamed operations (graphql-transport-ws, subscriptions) keep strawberry's path with the same
rules as extensions; so does every operation while tracing is on (its spans are extension
hooks).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass
from typing import Any

from graphql import (
    ASTValidationRule,
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
)
from graphql import execute as graphql_execute
from graphql.validation import specified_rules
from strawberry.exceptions import MissingQueryError
from strawberry.execution.is_awaitable import optimized_is_awaitable
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType
from strawberry.utils.operation import get_first_operation, get_operation_type

from milestones.observability.operations import observe
from milestones.rate_limits import RateLimiter
from milestones.schema.context import Context
from milestones.schema.documents import Documents, is_authenticated
from milestones.schema.errors import log_unexpected, presented, request_id_of
from milestones.schema.execution import SharedEventExecutionContext
from milestones.schema.rate_limiting import rate_limited_error, refusal_of


@dataclass(frozen=True, slots=True)
class Pipeline:
    """What the schema's extensions would do, as plain steps (see the module's docstring)."""

    documents: Documents
    # Strawberry's own rules first (as `ExecutionContext.validation_rules` starts), then the
    # rules the schema's AddValidationRules extensions add: the same tuple for every request,
    # so one validation of a document serves them all.
    validation_rules: tuple[type[ASTValidationRule], ...]
    production: bool
    rate_limiter: RateLimiter | None

    @classmethod
    def of(
        cls,
        documents: Documents,
        added_rules: Iterable[type[ASTValidationRule]],
        *,
        production: bool,
        rate_limiter: RateLimiter | None,
    ) -> Pipeline:
        return cls(
            documents,
            (*specified_rules, *added_rules),
            production,
            rate_limiter if rate_limiter is not None and rate_limiter.enabled else None,
        )

    async def run(
        self,
        schema: GraphQLSchema,
        query: str | None,
        variable_values: dict[str, Any] | None,
        context: Any,
        root_value: Any,
        operation_name: str | None,
        allowed: Iterable[OperationType],
        operation_extensions: dict[str, Any] | None,
    ) -> ExecutionResult:
        started = time.perf_counter()
        if not query:
            raise MissingQueryError
        authenticated = is_authenticated(context)
        try:
            document = self.documents.parsed(
                query,
                getattr(getattr(context, "request", None), "scope", None),
                authenticated=authenticated,
            )
        except GraphQLError as error:
            return self._ended(context, "unknown", operation_name, [error], None, started)
        try:
            operation_type = get_operation_type(document, operation_name)
        except RuntimeError as error:
            raise CannotGetOperationTypeError(operation_name) from error
        if operation_type not in allowed:
            raise InvalidOperationTypeError(operation_type)
        name = operation_name if operation_name is not None else _first_name(document)
        errors = self.documents.validate(
            schema, query, document, self.validation_rules, authenticated=authenticated
        )
        if errors:
            return self._ended(context, operation_type.value, name, errors, None, started)
        try:
            if self.rate_limiter is not None and isinstance(context, Context):
                refusal = await refusal_of(
                    self.rate_limiter, context, operation_type, document, name
                )
                if refusal is not None:
                    errors = [rate_limited_error(refusal)]
                    return self._ended(context, operation_type.value, name, errors, None, started)
            running = graphql_execute(
                schema,
                document,
                root_value=root_value,
                context_value=context,
                variable_values=variable_values,
                operation_name=name,
                executor_class=SharedEventExecutionContext,
                is_awaitable=optimized_is_awaitable,  # type: ignore[arg-type]
                # As strawberry hands them to its execution context (`info`).
                operation_extensions=operation_extensions,
            )
            result = await running if isinstance(running, Awaitable) else running
        except Exception as error:  # answered as strawberry answers it
            failure = error if isinstance(error, GraphQLError) else _coerced(error)
            return self._ended(context, operation_type.value, name, [failure], None, started)
        return self._ended(
            context,
            operation_type.value,
            name,
            list(result.errors or ()),
            result.data,
            started,
            executed=True,
        )

    def _ended(
        self,
        context: Any,
        operation_type: str,
        operation_name: str | None,
        errors: list[GraphQLError],
        data: dict[str, Any] | None,
        started: float,
        *,
        executed: bool = False,
    ) -> ExecutionResult:
        """The result: our failures logged, the errors as a client may read them, the
        operation counted. Before execution, a PreExecutionError (no data), as strawberry's."""
        if errors:
            log_unexpected(errors, context)
        observe(operation_type, operation_name, errors, data, time.perf_counter() - started)
        shown = presented(errors, request_id_of(context), production=self.production) or None
        if executed:
            return ExecutionResult(data=data, errors=shown)
        return PreExecutionError(data=None, errors=shown)


def _first_name(document: DocumentNode) -> str | None:
    """The operation's name as strawberry names it when the request gives none (and runs it
    by: a document of several operations runs its first)."""
    first: OperationDefinitionNode | None = get_first_operation(document)
    return first.name.value if first is not None and first.name is not None else None


def _coerced(error: Exception) -> GraphQLError:
    return GraphQLError(str(error), original_error=error)
