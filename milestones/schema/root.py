"""The root Schema."""

from __future__ import annotations

from collections.abc import Callable

import strawberry
from graphql import GraphQLError
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import AddValidationRules, SchemaExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from milestones.observability.operations import OperationObserver
from milestones.rate_limits import RateLimiter
from milestones.resolvers.mutations import Mutation
from milestones.resolvers.queries import Query
from milestones.resolvers.subscriptions import Subscription
from milestones.schema.documents import DocumentGate, Documents
from milestones.schema.errors import ErrorPolicy, log_unexpected
from milestones.schema.execution import SharedEventExecutionContext
from milestones.schema.limits import QueryLimits
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
    extensions: list[type[SchemaExtension] | Callable[[], SchemaExtension]] = [
        # First in, first out: it sees each error before ErrorPolicy rewrites it.
        OperationObserver,
        *limits.extensions(),
        lambda: ErrorPolicy(production=production),
        # The only parser: limited before anything is allocated, cached for signed-in callers.
        lambda: DocumentGate(documents),
    ]
    if production:
        extensions.append(lambda: AddValidationRules([NoSchemaIntrospectionCustomRule]))
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
    return schema


def export_sdl() -> str:
    return build_schema().as_str() + "\n"
