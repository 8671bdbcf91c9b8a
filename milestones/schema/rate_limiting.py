"""Rate limits at the door of execution: after the document is parsed and validated (so its
operation is known), before anything runs (so a refused request changes nothing).

A query costs one from `queries`; a mutation one from `mutations` per root field, and one from
`notifying` per root field that tells someone else (every mutation but `SILENT_MUTATIONS`, so a
new mutation is metered as notifying until it is listed here). Subscriptions are metered when
they start (`live` transport), not per event. A refusal is the operation's only error, with
`extensions.code` `RATE_LIMITED` and `retryAfter`; the HTTP front turns it into a 429 with
`Retry-After` (`Context.rate_limited`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)
from starlette.requests import HTTPConnection
from strawberry.extensions import SchemaExtension
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType

from milestones.rate_limits import Budget, Charges, RateLimiter, Refusal, identity
from milestones.schema.context import Context

# Mutations that only touch the viewer's own things: nobody else hears of them.
SILENT_MUTATIONS = frozenset({"markNotificationsRead", "updateNotificationSettings"})


def caller(context: Context) -> str:
    """The budget's owner: the signed-in user, else the client address."""
    if context.viewer is not None:
        return identity(context.viewer.sub, None)
    request = context.request
    client = request.client if isinstance(request, HTTPConnection) else None
    return identity(None, client.host if client is not None else None)


def rate_limited_error(refusal: Refusal) -> GraphQLError:
    return GraphQLError(refusal.message, extensions=refusal.extensions)


def _operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode) and (
            name is None or (definition.name is not None and definition.name.value == name)
        ):
            return definition
    return None


def root_fields(document: DocumentNode, operation_name: str | None) -> list[str]:
    """The root field names the operation selects (through fragments), repeats included."""
    operation = _operation(document, operation_name)
    if operation is None:
        return []
    fragments = {
        definition.name.value: definition
        for definition in document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }
    names: list[str] = []
    seen: set[str] = set()

    def collect(selection_set: SelectionSetNode) -> None:
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                names.append(selection.name.value)
            elif isinstance(selection, InlineFragmentNode):
                collect(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = fragments.get(selection.name.value)
                if fragment is not None and fragment.name.value not in seen:
                    seen.add(fragment.name.value)  # validation refuses cycles; this too
                    collect(fragment.selection_set)

    collect(operation.selection_set)
    return names


def mutation_charges(fields: list[str]) -> Charges:
    mutations = [name for name in fields if name != "__typename"]
    notifying = sum(1 for name in mutations if name not in SILENT_MUTATIONS)
    return [(Budget.MUTATIONS, len(mutations)), (Budget.NOTIFYING, notifying)]


def charges_for(
    operation_type: OperationType, document: DocumentNode, operation_name: str | None
) -> Charges:
    if operation_type is OperationType.QUERY:
        return [(Budget.QUERIES, 1)]
    if operation_type is OperationType.MUTATION:
        return mutation_charges(root_fields(document, operation_name))
    return ()  # subscriptions: metered when they start (`live` transport)


async def refusal_of(
    limiter: RateLimiter,
    context: Context,
    operation_type: OperationType,
    document: DocumentNode,
    operation_name: str | None,
) -> Refusal | None:
    """Charges the operation to its caller; the refusal (also left on the context, for the
    HTTP front's 429) when a budget is spent."""
    charges = charges_for(operation_type, document, operation_name)
    refusal = await limiter.admit(caller(context), charges) if charges else None
    if refusal is not None:
        context.rate_limited = refusal
    return refusal


class RateLimitGate(SchemaExtension):
    """Pass a factory: `lambda: RateLimitGate(limiter)`."""

    def __init__(self, limiter: RateLimiter) -> None:
        self.limiter = limiter

    async def on_execute(self) -> AsyncIterator[None]:
        execution = self.execution_context
        context = execution.context
        if isinstance(context, Context) and execution.graphql_document is not None:
            refusal = await refusal_of(
                self.limiter,
                context,
                execution.operation_type,
                execution.graphql_document,
                execution.operation_name,
            )
            if refusal is not None:
                # A result before execution: strawberry does not execute the operation, and
                # graphql-transport-ws answers a pre-execution error with an `error` message.
                execution.result = PreExecutionError(
                    data=None, errors=[rate_limited_error(refusal)]
                )
        yield
