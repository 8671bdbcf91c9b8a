"""The lean query/mutation path (`milestones/schema/pipeline.py`) answers what strawberry's
extension path answers, error for error, and is the path HTTP requests take."""

from __future__ import annotations

from typing import Any

import pytest
import strawberry
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType

from milestones.config import Settings
from milestones.observability.metrics import GRAPHQL_OPERATIONS
from milestones.schema.context import Context
from milestones.schema.limits import QueryLimits
from milestones.schema.root import MilestonesSchema, build_schema
from tests.conftest import TEST_JWT_SECRET

LIMITS = QueryLimits(max_depth=4, max_aliases=3, max_tokens=60)
QUERY = {OperationType.QUERY}

DOCUMENTS = {
    "served": "query Named { __typename }",
    "a resolver's refusal (no viewer)": "{ me { id } }",
    "syntax error": "{ me { id }",
    "unknown field, with a suggestion": "{ me { idd } }",
    "too deep": "{ contracts { edges { node { milestones { contract { title } } } } } }",
    "too many aliases": "{ a: __typename b: __typename c: __typename d: __typename }",
    "too many tokens": "{ " + " ".join(["__typename"] * 70) + " }",
    "introspection": "{ __schema { queryType { name } } }",
    "bad variable": "query Q($first: Int) { contracts(first: $first) { totalCount } }",
    "two operations, none named": "query A { __typename } query B { __typename }",
}


def _context() -> Context:
    return Context(settings=Settings(jwt_secret=TEST_JWT_SECRET), viewer=None)


def _shown(result: Any) -> tuple[str, Any, Any]:
    errors = [error.formatted for error in result.errors or ()]
    return (type(result).__name__, result.data, errors)


async def _both(
    schema: MilestonesSchema, query: str, **options: Any
) -> tuple[tuple[str, Any, Any], tuple[str, Any, Any]]:
    lean = await schema.execute(query, context_value=_context(), **options)
    extensions = await strawberry.Schema.execute(schema, query, context_value=_context(), **options)
    return _shown(lean), _shown(extensions)


@pytest.mark.parametrize("production", [True, False])
@pytest.mark.parametrize("name", sorted(DOCUMENTS))
async def test_pipeline_answers_as_the_extensions_do(name: str, production: bool) -> None:
    schema = build_schema(production=production, limits=LIMITS)
    assert schema.pipeline is not None
    variables = {"first": "many"} if name == "bad variable" else None
    lean, extensions = await _both(
        schema, DOCUMENTS[name], variable_values=variables, allowed_operation_types=QUERY
    )
    assert lean == extensions


async def test_pipeline_raises_what_strawberry_raises() -> None:
    schema = build_schema(production=True, limits=LIMITS)
    for execute in (schema.execute, lambda *a, **k: strawberry.Schema.execute(schema, *a, **k)):
        with pytest.raises(InvalidOperationTypeError):
            await execute(
                "mutation { markNotificationsRead(input: {all: true}) { count } }",
                context_value=_context(),
                allowed_operation_types=QUERY,
            )
        with pytest.raises(CannotGetOperationTypeError):
            await execute("{ __typename }", context_value=_context(), operation_name="Other")


async def test_a_refusal_before_execution_is_a_pre_execution_error() -> None:
    """graphql-transport-ws and the HTTP status tell these apart from execution errors."""
    schema = build_schema(production=True, limits=LIMITS)
    refused = await schema.execute("{ me { idd } }", context_value=_context())
    assert isinstance(refused, PreExecutionError)
    executed = await schema.execute("{ me { id } }", context_value=_context())
    assert not isinstance(executed, PreExecutionError)
    assert executed.errors


async def test_pipeline_counts_operations_by_name_and_outcome() -> None:
    schema = build_schema(production=True, limits=LIMITS)
    counted = GRAPHQL_OPERATIONS.labels(operation="Named", type="query", outcome="ok")
    before = counted._value.get()
    await schema.execute(DOCUMENTS["served"], context_value=_context())
    assert counted._value.get() == before + 1


async def test_tracing_keeps_strawberrys_path() -> None:
    """Spans are extension hooks: with tracing on, nothing bypasses them."""
    pytest.importorskip("opentelemetry")
    assert build_schema(tracing=True).pipeline is None


async def test_http_requests_take_the_pipeline(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def not_strawberrys(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("strawberry's extension path ran a query over HTTP")

    monkeypatch.setattr(strawberry.Schema, "execute", not_strawberrys)
    body = await client.post("{ me { __typename } }")
    assert body == {"data": {"me": {"__typename": "User"}}}
