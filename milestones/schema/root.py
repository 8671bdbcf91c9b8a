"""The root Schema."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import strawberry
from graphql import GraphQLError
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import AddValidationRules, SchemaExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import DEFAULT_ALLOWED_OPERATION_TYPES
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.graphql import OperationType

from milestones.observability.operations import OperationObserver
from milestones.rate_limits import RateLimiter
from milestones.resolvers.mutations import Mutation
from milestones.resolvers.queries import Query
from milestones.resolvers.subscriptions import Subscription
from milestones.schema.documents import DocumentGate, Documents
from milestones.schema.errors import ErrorPolicy, log_unexpected
from milestones.schema.execution import SharedEventExecutionContext
from milestones.schema.limits import QueryLimits
from milestones.schema.pipeline import Pipeline
from milestones.schema.rate_limiting import RateLimitGate
from milestones.schema.scalars import SCALAR_MAP
from milestones.schema.types import (
    ChangeRequest,
    Contract,
    ContractEvent,
    Milestone,
    Notification,
    RefundRequest,
    User,
)

# Parsed and validated documents kept per process (SPAs send the same few operations).
DEFAULT_DOCUMENT_CACHE_BYTES = 32 * 1024 * 1024


class MilestonesSchema(strawberry.Schema):
    documents: Documents
    # Queries and mutations run by it (`schema/pipeline.py`), unless tracing is on.
    pipeline: Pipeline | None = None

    async def execute(  # strawberry's signature
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> ExecutionResult:
        if self.pipeline is None:
            return await super().execute(
                query,
                variable_values,
                context_value,
                root_value,
                operation_name,
                allowed_operation_types,
                operation_extensions,
            )
        return await self.pipeline.run(
            self._schema,
            query,
            variable_values,
            context_value,
            root_value,
            operation_name,
            DEFAULT_ALLOWED_OPERATION_TYPES
            if allowed_operation_types is None
            else allowed_operation_types,
            operation_extensions,
        )

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # Only our own failures are worth a log record; a client's mistakes are answered.
        log_unexpected(errors, execution_context.context if execution_context else None)


def build_schema(
    *,
    production: bool = False,
    limits: QueryLimits | None = None,
    document_cache_bytes: int = DEFAULT_DOCUMENT_CACHE_BYTES,
    rate_limiter: RateLimiter | None = None,
    tracing: bool = False,
) -> MilestonesSchema:
    limits = limits or QueryLimits()
    documents = Documents(limits, document_cache_bytes)
    rules = limits.validation_rules()
    if production:
        rules.append(NoSchemaIntrospectionCustomRule)
    # The rules as extensions, for what strawberry runs itself (streamed operations, and all
    # of them while tracing); the pipeline takes the same rules as plain steps.
    extensions: list[type[SchemaExtension] | Callable[[], SchemaExtension]] = [
        # First in, first out: it sees each error before ErrorPolicy rewrites it.
        OperationObserver,
        lambda: AddValidationRules(rules),
        lambda: ErrorPolicy(production=production),
        # The only parser: limited before anything is allocated, cached for signed-in callers.
        lambda: DocumentGate(documents),
    ]
    if rate_limiter is not None and rate_limiter.enabled:
        extensions.append(lambda: RateLimitGate(rate_limiter))
    if tracing:  # imported only when on: OpenTelemetry is an optional extra
        from milestones.observability.tracing import GraphQLTracing

        extensions.insert(0, GraphQLTracing)
    schema = MilestonesSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[
            User,
            Contract,
            Milestone,
            ChangeRequest,
            RefundRequest,
            ContractEvent,
            Notification,
        ],
        config=StrawberryConfig(scalar_map=SCALAR_MAP),
        extensions=extensions,
        execution_context_class=SharedEventExecutionContext,
    )
    schema.documents = documents
    if not tracing:
        schema.pipeline = Pipeline.of(
            documents, rules, production=production, rate_limiter=rate_limiter
        )
    return schema


def export_sdl() -> str:
    return build_schema().as_str() + "\n"
